//! An HTTP client for the public internet (cloud image downloads): system roots, TLS always
//! verified, no PVE credentials. Built here so every HTTP client proxctl makes comes from one
//! place.

use std::time::Duration;

use crate::ClientError;
use crate::tls::{TlsMode, client_config};

pub fn web_client(connect_timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let (tls, _) = client_config(&TlsMode::Verify)?;
    #[allow(clippy::disallowed_methods)] // the one other place HTTP clients are built
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("proxctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::Config(format!("cannot build HTTP client: {e}")))
}
