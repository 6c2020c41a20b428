//! One trunk's limits, shared by every node on this case store: its channels (leased
//! rows, renewed by the node holding them while the call is up) and its call-start rate
//! (one "next start allowed at" instant, moved on by 1/cps at every start). Two nodes on a
//! trunk contract of N channels and R calls per second thus dial at most N calls at once
//! and R per second together; the channels of a node that died come back when their
//! lease passes. Schema: `migrations/*/0007_trunk_shares.sql`.
//!
//! A claim is one transaction that first moves the start instant on (its row lock makes
//! concurrent claims on PostgreSQL take turns, so two nodes never pick the same free
//! channel; SQLite's `BEGIN IMMEDIATE` does the same), then takes the lowest free channel.
//! Either step refused rolls both back.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;

use super::{Store, StoreError, to_ms};

/// One trunk channel held for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkChannel {
    pub trunk: String,
    pub slot: i64,
    pub node: String,
    /// Tells this call's hold from a later one on the same row.
    pub token: i64,
}

/// What a claim got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrunkClaim {
    Held(TrunkChannel),
    /// Every channel of the trunk is held by some node.
    Full,
    /// The trunk's start rate is used up; the next start is allowed at `retry_at`.
    TooSoon {
        retry_at: DateTime<Utc>,
    },
}

fn to_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Store {
    /// Makes sure the trunk has channel rows `0..channels` and a start-rate row. Safe to
    /// run from every node at every start; nodes configured with fewer channels simply
    /// never claim the rows above their count.
    pub async fn prepare_trunk(&self, trunk: &str, channels: usize) -> Result<(), StoreError> {
        let channels = i64::try_from(channels)
            .map_err(|_| StoreError::Rejected("trunk.channels too large".into()))?;
        let mut tx = self.begin_write().await?;
        // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
        sqlx::query(
            "INSERT INTO trunk_channels (trunk, slot, node, token, lease_until_ms) \
             WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < $2) \
             SELECT $1, n, NULL, NULL, 0 FROM s WHERE $2 > 0 \
             ON CONFLICT (trunk, slot) DO NOTHING",
        )
        .bind(trunk)
        .bind(channels)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO trunk_pace (trunk, next_start_us) VALUES ($1, 0) \
             ON CONFLICT (trunk) DO NOTHING",
        )
        .bind(trunk)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes one of the trunk's first `channels` channels for `node`, leased until
    /// `now + lease`, if one is free and the trunk's start rate (`per_second`) allows a
    /// start at `now`.
    pub async fn claim_trunk_channel(
        &self,
        trunk: &str,
        channels: usize,
        per_second: f64,
        node: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<TrunkClaim, StoreError> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(StoreError::Rejected(
                "calls per second must be positive".into(),
            ));
        }
        let spacing_us = ((1_000_000.0 / per_second).ceil() as i64).max(1);
        let channels = i64::try_from(channels).unwrap_or(i64::MAX);
        let now_us = to_us(now);
        let mut tx = self.begin_write().await?;
        let paced = sqlx::query(
            "UPDATE trunk_pace SET next_start_us = \
             CASE WHEN next_start_us > $2 THEN next_start_us ELSE $2 END + $3 \
             WHERE trunk = $1 AND next_start_us <= $2 RETURNING next_start_us",
        )
        .bind(trunk)
        .bind(now_us)
        .bind(spacing_us)
        .fetch_optional(&mut *tx)
        .await?;
        if paced.is_none() {
            let next = sqlx::query("SELECT next_start_us FROM trunk_pace WHERE trunk = $1")
                .bind(trunk)
                .fetch_optional(&mut *tx)
                .await?;
            tx.rollback().await?;
            let Some(next) = next else {
                return Err(StoreError::NotFound("trunk"));
            };
            let next: i64 = next.try_get("next_start_us")?;
            let retry_at = DateTime::from_timestamp_micros(next)
                .ok_or_else(|| StoreError::Corrupt(format!("trunk start instant {next}")))?;
            return Ok(TrunkClaim::TooSoon { retry_at });
        }
        let token = rand::random::<i64>() >> 2;
        let held = sqlx::query(
            "UPDATE trunk_channels SET node = $3, token = $4, lease_until_ms = $5 \
             WHERE trunk = $1 AND slot = (SELECT slot FROM trunk_channels \
             WHERE trunk = $1 AND slot < $2 AND lease_until_ms <= $6 ORDER BY slot LIMIT 1) \
             RETURNING slot",
        )
        .bind(trunk)
        .bind(channels)
        .bind(node)
        .bind(token)
        .bind(to_ms(now + lease))
        .bind(to_ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(held) = held else {
            tx.rollback().await?;
            return Ok(TrunkClaim::Full);
        };
        tx.commit().await?;
        Ok(TrunkClaim::Held(TrunkChannel {
            trunk: trunk.to_string(),
            slot: held.try_get("slot")?,
            node: node.to_string(),
            token,
        }))
    }

    /// Renews the leases of every channel `node` still holds; returns how many.
    pub async fn renew_trunk_channels(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE trunk_channels SET lease_until_ms = $3 \
             WHERE node = $1 AND lease_until_ms > $2",
        )
        .bind(node)
        .bind(to_ms(now))
        .bind(to_ms(now + lease))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Gives a channel back; false when its lease had passed and another call took it.
    pub async fn release_trunk_channel(&self, ch: &TrunkChannel) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE trunk_channels SET node = NULL, token = NULL, lease_until_ms = 0 \
             WHERE trunk = $1 AND slot = $2 AND node = $3 AND token = $4",
        )
        .bind(&ch.trunk)
        .bind(ch.slot)
        .bind(&ch.node)
        .bind(ch.token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Channels of the trunk held at `now`, by every node (`node` None) or by one.
    pub async fn trunk_channels_in_use(
        &self,
        trunk: &str,
        node: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM trunk_channels WHERE trunk = $1 AND lease_until_ms > $2 \
             AND ($3 IS NULL OR node = $3)",
        )
        .bind(trunk)
        .bind(to_ms(now))
        .bind(node)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
