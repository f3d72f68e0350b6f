//! Passwords of users made through `/access` (`pve` and `pam` realms): set at creation or by
//! `PUT /access/password`, checked by `POST /access/ticket`, so those users log in with
//! tickets and act with the rights their ACLs give them.

use crate::auth::Role;
use crate::error::{PveError, PveResult};
use crate::router::{Ctx, Reply};
use crate::routes::users::Access;
use crate::state::World;

/// The stored form of a password: SHA-256 over the user ID and the password, so two users
/// with one password store different values.
pub fn hash(userid: &str, password: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("{userid}\0{password}").as_bytes()))
}

/// Whether `userid` exists, is enabled and has not expired.
pub fn active(access: &Access, userid: &str, now_s: i64) -> bool {
    access.users.get(userid).is_some_and(|u| u.enable && (u.expire == 0 || u.expire > now_s))
}

/// Whether `password` logs `userid` in: an active user of a realm that keeps passwords.
pub fn login_ok(access: &Access, userid: &str, password: &str, now_s: i64) -> bool {
    let realm = userid.rsplit('@').next().unwrap_or_default();
    matches!(realm, "pve" | "pam")
        && active(access, userid, now_s)
        && access
            .users
            .get(userid)
            .and_then(|u| u.password_sha256.as_deref())
            .is_some_and(|h| h == hash(userid, password))
}

/// `PUT /access/password`: everyone may change their own password; changing another's needs
/// `User.Modify` on `/access` (PVE: `Realm.AllocateUser` and `User.Modify` on their groups).
pub fn change(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let userid = ctx.p.str("userid");
    let password = ctx.p.str("password");
    let confirmation = ctx.p.opt_str("confirmation-password");
    ctx.p.finish()?;
    let who = ctx.who.user.split('!').next().unwrap_or_default().to_string();
    if ctx.who.role == Role::Acl
        && who != userid
        && !crate::permissions::allowed(w, &ctx.who.user, "/access", "User.Modify")
    {
        return Err(PveError::forbidden("/access/groups", "User.Modify"));
    }
    if userid == "root@pam" {
        return Err(PveError::die(
            "root@pam's password is fixed for the simulator's life: set PROXCTL_SIM_PASSWORD when starting it",
        ));
    }
    let realm = userid.rsplit('@').next().unwrap_or_default();
    if !matches!(realm, "pve" | "pam") {
        return Err(PveError::die(format!("realm '{realm}' does not allow to change passwords")));
    }
    // Changing your own password proves you know the current one (PVE 8.1+).
    let now = i64::try_from(w.now_secs()).unwrap_or(i64::MAX);
    if ctx.who.role == Role::Acl && who == userid {
        let current = confirmation.unwrap_or_default();
        if !login_ok(&w.access, &userid, &current, now) {
            return Err(PveError::status(401, "authentication failure"));
        }
    }
    let u = w
        .access
        .users
        .get_mut(&userid)
        .ok_or_else(|| PveError::die(format!("no such user ('{userid}')")))?;
    u.password_sha256 = Some(hash(&userid, &password));
    Ok(Reply::null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_password_hashes_differently_for_two_users() {
        assert_ne!(hash("a@pve", "secret-pw"), hash("b@pve", "secret-pw"));
        assert_eq!(hash("a@pve", "secret-pw"), hash("a@pve", "secret-pw"));
    }
}
