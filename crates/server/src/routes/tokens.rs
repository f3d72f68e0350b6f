//! API tokens as admins see them: names, roles, scopes and dates, never secrets or hashes.
//! (They are made and revoked with `proxctl token`, which prints a secret once.)

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};

use crate::problem::{ApiResult, Problem};
use crate::tokens::TokenInfo;
use crate::{App, Caller};

#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses((status = 200, body = [TokenInfo]), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    caller.unscoped("listing tokens")?;
    Ok(Json(crate::tokens::list(&app.state).await?))
}
