//! Health-call identity lockouts on SQLite and PostgreSQL: the rule (per calling number and
//! ID first, per ID alone only at the higher threshold) through the engine's real identity
//! check, and staff seeing and lifting their centre's lockouts (API and page; CSRF, 403 for
//! another centre, audit).

#[path = "admin/client.rs"]
mod client;
mod common;

use axum::http::{Method, StatusCode};
use client::{Client, app, enrol, patient_of, two_centres};
use kenkocall::engine::identity::{LockoutPolicy, check_identity};
use kenkocall::ivr::{IdentityClaim, IdentityResult};
use kenkocall::store::Store;
use serde_json::{Value, json};

/// patient_of's birthday is 1955-03-09.
const RIGHT: &str = "0309";
const WRONG: &str = "0101";

async fn claim(store: &Store, number: &str, id: &str, mmdd: &str) -> IdentityResult {
    let claim = IdentityClaim {
        hersys_id: id.into(),
        birth_mmdd: mmdd.into(),
    };
    check_identity(store, LockoutPolicy::default(), Some(number), &claim)
        .await
        .result
}

fn verified(r: &IdentityResult) -> bool {
    matches!(r, IdentityResult::Verified { .. })
}

fn lockouts(reply: &client::Reply) -> Vec<Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json().as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn strangers_lock_only_their_own_numbers_and_staff_see_and_lift_lockouts() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let id = "1000101";
        let own = "0311110101";
        enrol(&store, patient_of("Minato", id, own)).await;
        enrol(&store, patient_of("Chuo", "2000101", "0322220101")).await;
        let (a, b) = ("09000000001", "09000000002");

        // Stranger A: the fifth wrong birthday for this ID locks A out of it, nothing else.
        for _ in 0..5 {
            assert_eq!(claim(&store, a, id, WRONG).await, IdentityResult::Mismatch);
        }
        assert_eq!(claim(&store, a, id, RIGHT).await, IdentityResult::LockedOut);
        // Stranger B: four more. The old rule locked the ID at five, whoever called.
        for _ in 0..4 {
            assert_eq!(claim(&store, b, id, WRONG).await, IdentityResult::Mismatch);
        }
        assert!(
            verified(&claim(&store, own, id, RIGHT).await),
            "patient's own phone"
        );
        assert!(
            verified(&claim(&store, b, id, RIGHT).await),
            "B is not locked yet"
        );

        // One number trying many IDs is locked whatever the ID (per_number = 10).
        let c = "09000000003";
        for n in 0..9 {
            let other = format!("30000{n:02}");
            assert_eq!(
                claim(&store, c, &other, WRONG).await,
                IdentityResult::Mismatch
            );
        }
        assert_eq!(claim(&store, c, id, WRONG).await, IdentityResult::Mismatch);
        assert_eq!(claim(&store, c, id, RIGHT).await, IdentityResult::LockedOut);
        assert_eq!(
            claim(&store, c, "2000101", RIGHT).await,
            IdentityResult::LockedOut
        );

        // Many numbers against one ID: locked for everyone at per_id = 20 (5 + 4 + 1 so far).
        for n in 0..10 {
            let number = format!("0800000{n:04}");
            assert_eq!(
                claim(&store, &number, id, WRONG).await,
                IdentityResult::Mismatch
            );
        }
        assert_eq!(
            claim(&store, own, id, RIGHT).await,
            IdentityResult::LockedOut
        );

        // Staff of the patient's centre see the three lockouts, newest first; Chuo sees none.
        let (router, _) = app(&store);
        let sato = Client::login(router.clone(), "sato", "minato-password").await;
        let kato = Client::login(router.clone(), "kato", "chuo-password!").await;
        let list = lockouts(&sato.get("/api/lockouts").await);
        let scopes: Vec<&str> = list.iter().map(|l| l["scope"].as_str().unwrap()).collect();
        assert_eq!(scopes, ["id", "number", "number_and_id"], "{list:#?}");
        assert!(list.iter().all(|l| l["active"] == json!(true)));
        assert_eq!(list[2]["failures"], json!(5));
        assert_eq!(list[2]["hersys_id"], json!(id));
        // The caller's number is masked.
        assert_eq!(list[2]["calling_number"], json!("*******0001"));
        assert!(!sato.get("/api/lockouts").await.text().contains(a));
        assert!(lockouts(&kato.get("/api/lockouts").await).is_empty());

        // Lifting: another centre 403, no CSRF 403, unknown 404; then it works once.
        let by_id = list[0]["id"].as_i64().unwrap();
        let lift = format!("/api/lockouts/{by_id}/lift");
        assert_eq!(
            kato.json(Method::POST, &lift, json!({})).await.status,
            StatusCode::FORBIDDEN
        );
        let r = sato
            .without_csrf()
            .json(Method::POST, &lift, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = sato
            .json(Method::POST, "/api/lockouts/999999/lift", json!({}))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            claim(&store, own, id, RIGHT).await,
            IdentityResult::LockedOut
        );
        let r = sato.json(Method::POST, &lift, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["active"], json!(false));
        assert_eq!(r.json()["lifted_by"], json!("sato"));
        let again = sato.json(Method::POST, &lift, json!({})).await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);

        // The patient gets through again, and the forgiven failures do not count: one more
        // wrong birthday from a new number does not re-lock the ID.
        assert!(verified(&claim(&store, own, id, RIGHT).await));
        assert_eq!(
            claim(&store, "0700000001", id, WRONG).await,
            IdentityResult::Mismatch
        );
        assert!(verified(&claim(&store, own, id, RIGHT).await));
        // A and C stay locked: their own lockouts were not lifted.
        assert_eq!(claim(&store, a, id, RIGHT).await, IdentityResult::LockedOut);
        assert_eq!(claim(&store, c, id, RIGHT).await, IdentityResult::LockedOut);

        // Audited: every lockout by the IVR, the lift by the staff member.
        let audit = store.list_audit(None).await.unwrap();
        let imposed = audit
            .iter()
            .filter(|e| e.action == "identity_lockout")
            .count();
        assert_eq!(imposed, 3);
        let lifts: Vec<_> = audit
            .iter()
            .filter(|e| e.action == "lockout_lift")
            .collect();
        assert_eq!(lifts.len(), 1);
        assert_eq!(lifts[0].actor, "sato");
        assert!(lifts[0].detail.contains("scope=id"), "{:?}", lifts[0]);

        // The page lists them and lifts with the session's CSRF token, like other forms.
        let page = sato.get("/lockouts").await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        assert!(html.contains("id=\"lockouts\""), "{html}");
        assert_eq!(html.matches("class=\"lift\"").count(), 2, "{html}");
        assert!(!html.contains(a), "numbers are masked on the page too");
        let pair = list[2]["id"].as_i64().unwrap();
        let uri = format!("/lockouts/{pair}/lift");
        let r = sato.form(&uri, "csrf=wrong").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = kato.form(&uri, &format!("csrf={}", kato.csrf)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = sato.form(&uri, &format!("csrf={}", sato.csrf)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert!(verified(&claim(&store, a, id, RIGHT).await), "A lifted");
        let html = sato.get("/lockouts").await.text();
        assert_eq!(html.matches("class=\"lift\"").count(), 1, "{html}");
    })
    .await;
}

#[tokio::test]
async fn a_lockout_on_ids_nobody_has_belongs_to_no_centre() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let d = "09000000004";
        for n in 0..10 {
            let unknown = format!("90000{n:02}");
            assert_eq!(
                claim(&store, d, &unknown, WRONG).await,
                IdentityResult::Mismatch
            );
        }
        assert_eq!(
            claim(&store, d, "9000099", WRONG).await,
            IdentityResult::LockedOut
        );
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        assert!(lockouts(&sato.get("/api/lockouts").await).is_empty());
        let page = sato.get("/lockouts").await.text();
        assert!(page.contains("id=\"no-lockouts\""), "{page}");
    })
    .await;
}
