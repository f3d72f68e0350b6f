//! Authentication realms (`/access/domains`) in the simulator: an LDAP realm made with the keys
//! it needs reads back, takes users, changes and goes; `pam` and `pve` stay; listing realms
//! needs no login (PVE's login form uses it) but making one does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

async fn ok(h: &Harness, method: &str, path: &str, body: &str) -> Value {
    let (s, v) = form(h, method, path, body).await;
    assert_eq!(s, 200, "{method} {path} {body}: {v}");
    v["data"].clone()
}

fn realms(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|r| r["realm"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn an_ldap_realm_is_made_used_changed_and_deleted_and_the_built_ins_stay() {
    let h = realtime("", 1).await;
    ok(&h, "POST", "/access/domains", "realm=corp&type=ldap&server1=ldap.example.com&base_dn=dc%3Dexample%2Cdc%3Dcom&user_attr=uid&comment=Corporate").await;
    assert_eq!(realms(&ok(&h, "GET", "/access/domains", "").await), ["pam", "pve", "corp"]);
    let corp = ok(&h, "GET", "/access/domains/corp", "").await;
    assert_eq!(
        (corp["type"].as_str(), corp["server1"].as_str()),
        (Some("ldap"), Some("ldap.example.com"))
    );
    ok(&h, "POST", "/access/users", "userid=alice%40corp").await;
    ok(&h, "PUT", "/access/domains/corp", "comment=Renamed&port=636").await;
    let corp = ok(&h, "GET", "/access/domains/corp", "").await;
    assert_eq!((corp["comment"].as_str(), corp["port"].as_i64()), (Some("Renamed"), Some(636)));
    ok(&h, "DELETE", "/access/domains/corp", "").await;
    assert_eq!(realms(&ok(&h, "GET", "/access/domains", "").await), ["pam", "pve"]);

    let (s, v) = form(&h, "DELETE", "/access/domains/pam", "").await;
    assert_eq!(s, 500);
    assert!(message(&v).contains("can't delete builtin domain 'pam'"), "{v}");
    let (s, v) = form(&h, "POST", "/access/domains", "realm=pve2&type=pve").await;
    assert_eq!(s, 500);
    assert!(message(&v).contains("unable to create builtin type"), "{v}");
}

#[tokio::test]
async fn listing_realms_needs_no_login_but_making_one_does() {
    let h = realtime("", 1).await;
    let open = raw_https(
        &h,
        "GET /api2/json/access/domains HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(open.starts_with("HTTP/1.1 200"), "{open}");
    let body = "realm=x1&type=ad&server1=a&domain=b";
    let made = raw_https(
        &h,
        &format!(
            "POST /api2/json/access/domains HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(made.starts_with("HTTP/1.1 401"), "{made}");
    assert_eq!(realms(&ok(&h, "GET", "/access/domains", "").await), ["pam", "pve"]);
}
