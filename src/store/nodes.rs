//! Running `serve` nodes, as the case store knows them: each node keeps a row alive with a
//! heartbeat lease, so `call-now` can tell whether any node will take its call and
//! `kenkocall drain` can ask a node to drain. A node that dies simply stops renewing; its
//! row is ignored once the lease has passed and replaced when a node of that name starts.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, flag, from_ms, opt_from_ms, to_ms};

/// One node's heartbeat row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    /// Unique per process (`host-pid`); also the dialer's lease owner prefix.
    pub name: String,
    pub host: String,
    /// `sip.listen` as configured (how `drain` finds the node beside it).
    pub sip_listen: String,
    /// The node runs the dialer (takes scheduled and `call-now` calls).
    pub dialer: bool,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub drain_requested_at: Option<DateTime<Utc>>,
    pub draining_since: Option<DateTime<Utc>>,
}

impl NodeInfo {
    /// Alive at `now` (its lease has not passed).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.lease_until > now
    }

    /// Will take new calls: alive, and neither draining nor asked to.
    pub fn takes_calls(&self, now: DateTime<Utc>) -> bool {
        self.is_live(now) && self.drain_requested_at.is_none() && self.draining_since.is_none()
    }
}

fn from_row(r: &AnyRow) -> Result<NodeInfo, StoreError> {
    let dialer: i64 = r.try_get("dialer")?;
    Ok(NodeInfo {
        name: r.try_get("name")?,
        host: r.try_get("host")?,
        sip_listen: r.try_get("sip_listen")?,
        dialer: dialer != 0,
        started_at: from_ms(r.try_get("started_at_ms")?)?,
        seen_at: from_ms(r.try_get("seen_at_ms")?)?,
        lease_until: from_ms(r.try_get("lease_until_ms")?)?,
        drain_requested_at: opt_from_ms(r.try_get("drain_requested_at_ms")?)?,
        draining_since: opt_from_ms(r.try_get("draining_since_ms")?)?,
    })
}

const SELECT: &str = "SELECT name, host, sip_listen, dialer, started_at_ms, seen_at_ms, \
     lease_until_ms, drain_requested_at_ms, draining_since_ms FROM nodes";

impl Store {
    /// Announces a starting node (replacing a dead row of the same name).
    pub async fn node_started(
        &self,
        name: &str,
        host: &str,
        sip_listen: &str,
        dialer: bool,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO nodes (name, host, sip_listen, dialer, started_at_ms, seen_at_ms, \
             lease_until_ms) VALUES ($1, $2, $3, $4, $5, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET host = $2, sip_listen = $3, dialer = $4, \
             started_at_ms = $5, seen_at_ms = $5, lease_until_ms = $6, \
             drain_requested_at_ms = NULL, draining_since_ms = NULL",
        )
        .bind(name)
        .bind(host)
        .bind(sip_listen)
        .bind(flag(dialer))
        .bind(to_ms(now))
        .bind(to_ms(now + lease))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "node"))?;
        Ok(())
    }

    /// Renews the node's lease, and the leases of the on-demand calls it is placing; says
    /// whether someone asked it to drain. A row gone (deleted by hand) is re-created.
    pub async fn node_heartbeat(
        &self,
        name: &str,
        draining: bool,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<bool, StoreError> {
        let until = to_ms(now + lease);
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE nodes SET seen_at_ms = $2, lease_until_ms = $3, \
             draining_since_ms = CASE WHEN $4 = 1 THEN COALESCE(draining_since_ms, $2) \
             ELSE draining_since_ms END WHERE name = $1 RETURNING drain_requested_at_ms",
        )
        .bind(name)
        .bind(to_ms(now))
        .bind(until)
        .bind(flag(draining))
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE call_requests SET lease_until_ms = $2 WHERE node = $1 AND state = 'dialing'",
        )
        .bind(name)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("node"));
        };
        let asked: Option<i64> = row.try_get("drain_requested_at_ms")?;
        Ok(asked.is_some())
    }

    /// Removes the node's row (clean exit).
    pub async fn node_stopped(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM nodes WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every node row, live or not, by name.
    pub async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let sql = format!("{SELECT} ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Asks a live node to drain; false when no live node has that name.
    pub async fn request_drain(&self, name: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE nodes SET drain_requested_at_ms = COALESCE(drain_requested_at_ms, $2) \
             WHERE name = $1 AND lease_until_ms > $2",
        )
        .bind(name)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
