//! Declaring the CONTRACT §4 names (and `leitstand.http`, the queue of plugins' HTTP
//! deliveries). Every declaration is idempotent, so the daemon declares
//! at each (re)connect and `leitstand topology` can provision ahead of it.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::{COMMANDS_EXCHANGE, DEAD, EVENTS_EXCHANGE, HTTP_QUEUE, TransportError, UNROUTED};
use leitstand_contract::envelope::TenantId;

/// The input queue of `tenant`: a quorum queue bound to `leitstand.events` with
/// `<tenant>.#`.
pub fn tenant_queue(tenant: &TenantId) -> String {
    format!("leitstand.tenant.{tenant}")
}

/// What to declare.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Deliveries of one message before the broker dead-letters it as poison.
    pub delivery_limit: u32,
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

impl Topology {
    fn quorum_args(&self, dead_letter: bool) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("quorum"));
        if dead_letter {
            args.insert("x-dead-letter-exchange".into(), text(DEAD));
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongInt(i32::try_from(self.delivery_limit).unwrap_or(i32::MAX)),
            );
        }
        args
    }

    /// Declares the exchanges, the dead-letter and unrouted queues.
    pub async fn declare_shared(&self, ch: &Channel) -> Result<(), TransportError> {
        let exchange = |name: &'static str, kind: ExchangeKind, args: FieldTable| async move {
            ch.exchange_declare(name.into(), kind, durable_exchange(), args)
                .await
                .map_err(TransportError::amqp(format!("declaring exchange {name}")))
        };
        exchange(DEAD, ExchangeKind::Fanout, FieldTable::default()).await?;
        exchange(UNROUTED, ExchangeKind::Fanout, FieldTable::default()).await?;
        let mut events_args = FieldTable::default();
        events_args.insert("alternate-exchange".into(), text(UNROUTED));
        exchange(EVENTS_EXCHANGE, ExchangeKind::Topic, events_args).await?;
        exchange(
            COMMANDS_EXCHANGE,
            ExchangeKind::Topic,
            FieldTable::default(),
        )
        .await?;
        // The dead-letter queue itself has no dead-letter exchange: nothing leaves it but
        // by an operator's hand.
        self.queue(ch, DEAD, DEAD, "", false).await?;
        self.queue(ch, UNROUTED, UNROUTED, "", true).await?;
        // Plugins' `http.post` commands, delivered by the daemons from here.
        self.queue(ch, HTTP_QUEUE, COMMANDS_EXCHANGE, "*.http.post", true)
            .await
    }

    /// Declares `tenant`'s input queue and its binding.
    pub async fn declare_tenant(
        &self,
        ch: &Channel,
        tenant: &TenantId,
    ) -> Result<(), TransportError> {
        let queue = tenant_queue(tenant);
        self.queue(ch, &queue, EVENTS_EXCHANGE, &format!("{tenant}.#"), true)
            .await
    }

    /// Declares `queue` (durable, quorum; with `dead_letter`, dead-lettering to
    /// `leitstand.dead` after the delivery limit) and binds it to `exchange` with `key`.
    pub(crate) async fn queue(
        &self,
        ch: &Channel,
        queue: &str,
        exchange: &str,
        key: &str,
        dead_letter: bool,
    ) -> Result<(), TransportError> {
        ch.queue_declare(queue.into(), durable_queue(), self.quorum_args(dead_letter))
            .await
            .map_err(TransportError::amqp(format!("declaring queue {queue}")))?;
        ch.queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(TransportError::amqp(format!(
            "binding queue {queue} to {exchange} with {key:?}"
        )))
    }
}
