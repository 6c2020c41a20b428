//! Node heartbeats, drain requests and on-demand calls (`call-now`) on both backends.

mod common;

use chrono::TimeDelta;
use common::{at, on_every_backend, patient};
use kenkocall::store::{AttemptOutcome, CallRequestResult, Store};

const LEASE: TimeDelta = TimeDelta::seconds(10);

async fn enrol(s: &Store) -> kenkocall::store::PatientId {
    s.insert_patient(&patient("2345678", "09012345678"), "staff", at(0))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_node_lives_by_its_heartbeat_and_sees_a_drain_request() {
    on_every_backend(|s| async move {
        s.node_started("h-1", "h", "127.0.0.1:5060", true, at(0), LEASE)
            .await
            .unwrap();
        let nodes = s.list_nodes().await.unwrap();
        assert_eq!(nodes.len(), 1);
        assert!(nodes[0].takes_calls(at(0)) && nodes[0].dialer);
        // Not renewed: gone after the lease; drain of a gone node is refused.
        assert!(!nodes[0].is_live(at(1)));
        assert!(!s.request_drain("h-1", at(1)).await.unwrap());
        assert!(!s.node_heartbeat("h-1", false, at(1), LEASE).await.unwrap());
        assert!(s.request_drain("h-1", at(1)).await.unwrap());
        assert!(!s.list_nodes().await.unwrap()[0].takes_calls(at(1)));
        assert!(s.node_heartbeat("h-1", false, at(1), LEASE).await.unwrap());
        assert!(s.node_heartbeat("h-1", true, at(1), LEASE).await.unwrap());
        let n = &s.list_nodes().await.unwrap()[0];
        assert_eq!(n.draining_since, Some(at(1)));
        // A restart under the same name starts clean.
        s.node_started("h-1", "h", "127.0.0.1:5060", false, at(2), LEASE)
            .await
            .unwrap();
        let n = &s.list_nodes().await.unwrap()[0];
        assert!(n.takes_calls(at(2)) && !n.dialer);
        s.node_stopped("h-1").await.unwrap();
        assert!(s.list_nodes().await.unwrap().is_empty());
        assert!(matches!(
            s.node_heartbeat("h-1", false, at(3), LEASE).await,
            Err(kenkocall::store::StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn a_call_request_is_taken_once_and_finished_by_its_node() {
    on_every_backend(|s| async move {
        let p = enrol(&s).await;
        let id = s.request_call(p, "cli", at(0)).await.unwrap();
        let age = TimeDelta::minutes(1);
        let taken = s
            .claim_call_requests("a", at(0), LEASE, age, 5)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].id, taken[0].state.as_str()), (id, "dialing"));
        assert_eq!(taken[0].hersys_id, "2345678");
        assert!(
            s.claim_call_requests("b", at(0), LEASE, age, 5)
                .await
                .unwrap()
                .is_empty()
        );
        // Once taken, `call-now` cannot cancel it any more.
        assert!(!s.cancel_call_request(id, "not_taken", at(0)).await.unwrap());
        let result = CallRequestResult {
            outcome: AttemptOutcome::Completed,
            caller_line: Some("05031980215".into()),
            sip_call_id: Some("x@127.0.0.1".into()),
            detail: None,
            ended_at: at(1),
        };
        assert!(!s.finish_call_request(id, "b", &result).await.unwrap());
        assert!(s.finish_call_request(id, "a", &result).await.unwrap());
        let r = s.get_call_request(id).await.unwrap();
        assert!(r.is_over());
        assert_eq!(r.outcome, Some(AttemptOutcome::Completed));
        assert_eq!(r.node.as_deref(), Some("a"));
        assert_eq!(
            s.list_call_requests(Some("2345678")).await.unwrap(),
            vec![r]
        );
        assert!(
            s.list_call_requests(Some("9999999"))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn stale_requests_expire_and_a_dead_nodes_call_is_interrupted() {
    on_every_backend(|s| async move {
        let p = enrol(&s).await;
        let age = TimeDelta::minutes(1);
        // Nobody took it in time: cancelled by the asker, never dialled afterwards.
        let cancelled = s.request_call(p, "cli", at(0)).await.unwrap();
        assert!(
            s.cancel_call_request(cancelled, "not_taken", at(0))
                .await
                .unwrap()
        );
        // Left pending by a killed CLI: expired by the next claim.
        let old = s.request_call(p, "cli", at(0)).await.unwrap();
        let fresh = s.request_call(p, "cli", at(5)).await.unwrap();
        let taken = s
            .claim_call_requests("a", at(5), LEASE, age, 5)
            .await
            .unwrap();
        assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), vec![fresh]);
        let r = s.get_call_request(old).await.unwrap();
        assert_eq!(
            (r.state.as_str(), r.detail.as_deref()),
            ("cancelled", Some("expired"))
        );
        // Node "a" keeps it while its heartbeat renews the lease...
        s.node_started("a", "h", "x", true, at(5), LEASE)
            .await
            .unwrap();
        let t = at(5) + TimeDelta::seconds(9);
        s.node_heartbeat("a", false, t, LEASE).await.unwrap();
        s.claim_call_requests("b", t + TimeDelta::seconds(5), LEASE, age, 5)
            .await
            .unwrap();
        assert_eq!(s.get_call_request(fresh).await.unwrap().state, "dialing");
        // ...and loses it once the heartbeat stops: failed, interrupted.
        s.claim_call_requests("b", t + LEASE, LEASE, age, 5)
            .await
            .unwrap();
        let r = s.get_call_request(fresh).await.unwrap();
        assert_eq!(r.outcome, Some(AttemptOutcome::Failed));
        assert_eq!(r.detail.as_deref(), Some("interrupted"));
    })
    .await;
}
