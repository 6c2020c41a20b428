//! Shared trunk limits in the case store (src/store/trunk.rs), on SQLite and PostgreSQL:
//! channels are leased across nodes, a dead node's channels come back when the lease
//! passes, starts are spaced 1/cps apart whoever starts them, and concurrent claims from
//! several connections never hold more than the trunk's channels.

mod common;

use chrono::TimeDelta;
use common::{at, on_every_backend};
use kenkocall::store::{TrunkChannel, TrunkClaim};

const TRUNK: &str = "sip:trunk.example:5060";

fn held(c: TrunkClaim) -> TrunkChannel {
    match c {
        TrunkClaim::Held(ch) => ch,
        other => panic!("expected a channel, got {other:?}"),
    }
}

#[tokio::test]
async fn channels_are_shared_leased_and_come_back() {
    on_every_backend(|s| async move {
        s.prepare_trunk(TRUNK, 2).await.unwrap();
        // Again from a second node (and with more channels configured elsewhere): no harm.
        s.prepare_trunk(TRUNK, 2).await.unwrap();
        let lease = TimeDelta::seconds(30);
        let t0 = at(0);
        // Fast enough a rate that spacing plays no part here.
        let cps = 1000.0;
        let a = held(
            s.claim_trunk_channel(TRUNK, 2, cps, "node-a", t0, lease)
                .await
                .unwrap(),
        );
        let t1 = t0 + TimeDelta::seconds(1);
        let b = held(
            s.claim_trunk_channel(TRUNK, 2, cps, "node-b", t1, lease)
                .await
                .unwrap(),
        );
        assert_ne!(a.slot, b.slot);
        let t2 = t0 + TimeDelta::seconds(2);
        assert_eq!(
            s.claim_trunk_channel(TRUNK, 2, cps, "node-b", t2, lease)
                .await
                .unwrap(),
            TrunkClaim::Full
        );
        assert_eq!(s.trunk_channels_in_use(TRUNK, None, t2).await.unwrap(), 2);
        // Another trunk is counted apart.
        s.prepare_trunk("sip:other.example", 1).await.unwrap();
        held(
            s.claim_trunk_channel("sip:other.example", 1, cps, "node-b", t2, lease)
                .await
                .unwrap(),
        );

        // b gives its channel back; a new call takes it.
        assert!(s.release_trunk_channel(&b).await.unwrap());
        let t3 = t0 + TimeDelta::seconds(3);
        let b2 = held(
            s.claim_trunk_channel(TRUNK, 2, cps, "node-b", t3, lease)
                .await
                .unwrap(),
        );
        // b keeps renewing; a died at t0 and its lease passes at t0 + 30 s.
        let t20 = t0 + TimeDelta::seconds(20);
        assert_eq!(
            s.renew_trunk_channels("node-b", t20, lease).await.unwrap(),
            2
        );
        let t31 = t0 + TimeDelta::seconds(31);
        assert_eq!(s.trunk_channels_in_use(TRUNK, None, t31).await.unwrap(), 1);
        assert_eq!(
            s.trunk_channels_in_use(TRUNK, Some("node-a"), t31)
                .await
                .unwrap(),
            0
        );
        let c = held(
            s.claim_trunk_channel(TRUNK, 2, cps, "node-c", t31, lease)
                .await
                .unwrap(),
        );
        assert_eq!(c.slot, a.slot, "the dead node's channel is taken back");
        // The dead node's late release does not free the new holder's channel.
        assert!(!s.release_trunk_channel(&a).await.unwrap());
        assert_eq!(s.trunk_channels_in_use(TRUNK, None, t31).await.unwrap(), 2);
        assert!(s.release_trunk_channel(&b2).await.unwrap());
        // A node configured with fewer channels never takes the rows above its count.
        let t32 = t0 + TimeDelta::seconds(32);
        assert_eq!(
            s.claim_trunk_channel(TRUNK, 1, cps, "node-d", t32, lease)
                .await
                .unwrap(),
            TrunkClaim::Full
        );
    })
    .await;
}

#[tokio::test]
async fn starts_are_spaced_across_nodes() {
    on_every_backend(|s| async move {
        s.prepare_trunk(TRUNK, 10).await.unwrap();
        let lease = TimeDelta::seconds(30);
        let t0 = at(0);
        // 4 calls per second: one start every 250 ms, whichever node asks.
        held(
            s.claim_trunk_channel(TRUNK, 10, 4.0, "node-a", t0, lease)
                .await
                .unwrap(),
        );
        let soon = t0 + TimeDelta::milliseconds(100);
        assert_eq!(
            s.claim_trunk_channel(TRUNK, 10, 4.0, "node-b", soon, lease)
                .await
                .unwrap(),
            TrunkClaim::TooSoon {
                retry_at: t0 + TimeDelta::milliseconds(250)
            }
        );
        held(
            s.claim_trunk_channel(
                TRUNK,
                10,
                4.0,
                "node-b",
                t0 + TimeDelta::milliseconds(250),
                lease,
            )
            .await
            .unwrap(),
        );
        // A refused claim (trunk full) spends no start.
        s.prepare_trunk("sip:one.example", 1).await.unwrap();
        held(
            s.claim_trunk_channel("sip:one.example", 1, 1.0, "node-a", t0, lease)
                .await
                .unwrap(),
        );
        let t2 = t0 + TimeDelta::seconds(2);
        assert_eq!(
            s.claim_trunk_channel("sip:one.example", 1, 1.0, "node-b", t2, lease)
                .await
                .unwrap(),
            TrunkClaim::Full
        );
        assert!(
            s.claim_trunk_channel("sip:other-unprepared", 1, 1.0, "node-b", t2, lease)
                .await
                .is_err(),
            "a trunk nobody prepared is an error, not a free-for-all"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_exceed_the_channels() {
    on_every_backend(|s| async move {
        const CHANNELS: usize = 5;
        s.prepare_trunk(TRUNK, CHANNELS).await.unwrap();
        let lease = TimeDelta::seconds(30);
        // 8 "nodes" × 4 claims at once, on the real clock (a claim refused as too soon,
        // 1 µs after another, asks again).
        let mut tasks = Vec::new();
        for n in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..4 {
                    let node = format!("node-{n}");
                    loop {
                        let now = chrono::Utc::now();
                        match s
                            .claim_trunk_channel(TRUNK, CHANNELS, 1e6, &node, now, lease)
                            .await
                            .unwrap()
                        {
                            TrunkClaim::Held(ch) => got.push(ch.slot),
                            TrunkClaim::Full => {}
                            TrunkClaim::TooSoon { .. } => continue,
                        }
                        break;
                    }
                }
                got
            }));
        }
        let mut slots = Vec::new();
        for t in tasks {
            slots.extend(t.await.unwrap());
        }
        slots.sort();
        assert_eq!(slots, (0..CHANNELS as i64).collect::<Vec<_>>());
    })
    .await;
}
