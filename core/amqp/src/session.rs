//! One session with the broker: a consuming connection (a channel per queue) and a
//! publishing connection (confirm-mode channels), so that a slow consumer side never holds
//! up confirms and the other way round. The daemon's supervisor opens a session, starts its
//! workers on it and opens a new one when the broker goes away.

use futures_util::StreamExt;
use futures_util::stream::{BoxStream, select};
use lapin::{Channel, Connection, Event};
use leitstand_contract::envelope::TenantId;

use crate::{AmqpConfig, Publisher, TenantQueue, Topology, TransportError};

/// The connections of one session.
pub struct Session {
    consume: Connection,
    publish: Connection,
    topology: Topology,
}

/// What the broker says about a session's connections.
pub struct Watch {
    events: BoxStream<'static, Event>,
}

impl Watch {
    /// Waits until a connection fails (logging the broker's flow control meanwhile).
    pub async fn failure(&mut self) -> TransportError {
        while let Some(event) = self.events.next().await {
            match event {
                Event::Error(e) => {
                    return TransportError::Amqp {
                        context: "the broker connection failed".into(),
                        source: e,
                    };
                }
                Event::ConnectionBlocked(reason) => {
                    tracing::warn!(%reason, "the broker blocks publishing");
                }
                Event::ConnectionUnblocked => tracing::info!("the broker unblocked publishing"),
                _ => {}
            }
        }
        TransportError::Session("the broker connections' events ended".into())
    }
}

impl Session {
    /// Connects both connections and declares the shared part of the topology
    /// (CONTRACT §4); returns the session and the watch on its connections.
    pub async fn open(config: &AmqpConfig) -> Result<(Self, Watch), TransportError> {
        let consume = config.connect("consume").await?;
        let publish = config.connect("publish").await?;
        let events = select(consume.events_listener(), publish.events_listener()).boxed();
        let session = Self {
            consume,
            publish,
            topology: Topology {
                delivery_limit: config.delivery_limit,
            },
        };
        let ch = session.channel().await?;
        session.topology.declare_shared(&ch).await?;
        let _ = ch.close(200, "topology declared".into()).await;
        Ok((session, Watch { events }))
    }

    /// A new channel on the consuming connection.
    pub async fn channel(&self) -> Result<Channel, TransportError> {
        self.consume
            .create_channel()
            .await
            .map_err(TransportError::amqp("opening a consuming channel"))
    }

    /// A confirm-mode channel on the publishing connection.
    pub async fn publisher(&self) -> Result<Publisher, TransportError> {
        Publisher::open(&self.publish).await
    }

    /// Declares `tenant`'s queue and its binding on a channel of its own.
    pub async fn declare_tenant(&self, tenant: &TenantId) -> Result<(), TransportError> {
        let ch = self.channel().await?;
        self.topology.declare_tenant(&ch, tenant).await?;
        let _ = ch.close(200, "tenant queue declared".into()).await;
        Ok(())
    }

    /// Declares `tenant`'s queue and consumes it on a channel of its own.
    pub async fn tenant_queue(
        &self,
        tenant: &TenantId,
        prefetch: u16,
    ) -> Result<TenantQueue, TransportError> {
        let ch = self.channel().await?;
        self.topology.declare_tenant(&ch, tenant).await?;
        TenantQueue::open(ch, tenant, prefetch).await
    }

    /// Closes both connections (each within two seconds).
    pub async fn close(&self) {
        for conn in [&self.consume, &self.publish] {
            if conn.status().connected() {
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    conn.close(200, "leitstand stopping".into()),
                )
                .await;
            }
        }
    }
}

/// Declares the CONTRACT §4 topology for `tenants` and returns: `leitstand topology`.
pub async fn declare_topology(
    config: &AmqpConfig,
    tenants: impl IntoIterator<Item = &TenantId>,
) -> Result<(), TransportError> {
    let conn = config.connect("topology").await?;
    let ch = conn
        .create_channel()
        .await
        .map_err(TransportError::amqp("opening a channel"))?;
    let topology = Topology {
        delivery_limit: config.delivery_limit,
    };
    topology.declare_shared(&ch).await?;
    for tenant in tenants {
        topology.declare_tenant(&ch, tenant).await?;
        tracing::info!(tenant = %tenant, "declared the tenant queue");
    }
    conn.close(200, "topology declared".into())
        .await
        .map_err(TransportError::amqp("closing the connection"))
}
