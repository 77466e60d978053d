//! Cluster mode: the daemons sharing the tenants on PostgreSQL, their heartbeats and the
//! tenant leases whose fences every commit checks (ADR 0007).

use sqlx::Row;

use crate::{Fence, Store, StoreError, TenantId, db};

/// Cluster mode: membership and tenant leases.
impl Store {
    /// Records that `member` is alive at `now_ms`.
    pub async fn heartbeat(&self, member: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO leitstand_members (member, seen_ms) VALUES ($1, $2) \
             ON CONFLICT (member) DO UPDATE SET seen_ms = excluded.seen_ms",
        )
        .bind(member)
        .bind(now_ms)
        .execute(&self.writes)
        .await
        .map(|_| ())
        .map_err(db("recording the heartbeat"))
    }

    /// The members seen at or after `since_ms`, sorted.
    pub async fn live_members(&self, since_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT member FROM leitstand_members WHERE seen_ms >= $1 ORDER BY member")
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading the members"))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("member"))
            .collect::<Result<_, _>>()
            .map_err(db("reading the members"))
    }

    /// Takes the lease of `tenant` for `owner` until `now_ms + lease_ms`, when it is free,
    /// expired or already `owner`'s. Returns the fence to commit with; a new holder's token
    /// is larger than every earlier one.
    pub async fn acquire(
        &self,
        tenant: &TenantId,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<Fence>, StoreError> {
        let ctx = || format!("taking the lease of {tenant}");
        let mut tx = self.begin(&ctx()).await?;
        sqlx::query(
            "INSERT INTO leitstand_leases (tenant, owner, token, expires_ms) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (tenant) DO UPDATE SET owner = excluded.owner, \
             token = leitstand_leases.token + 1, expires_ms = excluded.expires_ms \
             WHERE leitstand_leases.expires_ms < $4",
        )
        .bind(tenant.as_str())
        .bind(owner)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db(ctx()))?;
        let row = sqlx::query(
            "SELECT token, expires_ms FROM leitstand_leases WHERE tenant = $1 AND owner = $2",
        )
        .bind(tenant.as_str())
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(ctx()))?;
        tx.commit().await.map_err(db(ctx()))?;
        let Some(row) = row else { return Ok(None) };
        let expires: i64 = row.try_get("expires_ms").map_err(db(ctx()))?;
        if expires <= now_ms {
            return Ok(None);
        }
        Ok(Some(Fence {
            owner: owner.to_owned(),
            token: row.try_get("token").map_err(db(ctx()))?,
        }))
    }

    /// Extends a held lease to `now_ms + lease_ms`. False when it is no longer held.
    pub async fn renew(
        &self,
        tenant: &TenantId,
        fence: &Fence,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE leitstand_leases SET expires_ms = $4 \
             WHERE tenant = $1 AND owner = $2 AND token = $3 AND expires_ms > $5",
        )
        .bind(tenant.as_str())
        .bind(fence.owner.as_str())
        .bind(fence.token)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .execute(&self.writes)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db(format!("renewing the lease of {tenant}")))
    }

    /// Gives a held lease up, so that the next owner need not wait for it to expire.
    pub async fn release(&self, tenant: &TenantId, fence: &Fence) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leitstand_leases WHERE tenant = $1 AND owner = $2 AND token = $3")
            .bind(tenant.as_str())
            .bind(fence.owner.as_str())
            .bind(fence.token)
            .execute(&self.writes)
            .await
            .map(|_| ())
            .map_err(db(format!("releasing the lease of {tenant}")))
    }

    /// Removes `member` from the cluster (a graceful stop).
    pub async fn leave(&self, member: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leitstand_members WHERE member = $1")
            .bind(member)
            .execute(&self.writes)
            .await
            .map(|_| ())
            .map_err(db("leaving the cluster"))
    }
}
