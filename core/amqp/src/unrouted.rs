//! The consumer of `leitstand.unrouted`: events the topic exchange could route to no tenant
//! queue (no bundle is loaded for their tenant). Each is copied to `leitstand.dead` as
//! `unknown-tenant` (or with the reason it is malformed), and acknowledged once the broker
//! has confirmed the copy. Confirms are awaited by a second task in order, so many
//! deliveries are in flight at once.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures_util::StreamExt;
use lapin::Acker;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use tokio::sync::{mpsc, watch};

use crate::Context;
use crate::{Confirms, Publisher, TransportError, UNROUTED};
use leitstand_contract::command::routing_key_tenant;
use leitstand_contract::envelope::{RejectReason, Rejection};

/// One input waiting for its confirms.
struct Pending {
    acker: Acker,
    confirms: Confirms,
    started: Instant,
}

/// Consumes `leitstand.unrouted` until `stop` turns true (then what was already delivered
/// is finished) or the channel fails (an error for the supervisor).
pub async fn run(
    context: Arc<Context>,
    channel: Channel,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TransportError> {
    let tag = format!("leitstand:{UNROUTED}");
    channel
        .basic_qos(context.config.prefetch, BasicQosOptions::default())
        .await
        .map_err(TransportError::amqp(format!(
            "setting prefetch on {UNROUTED}"
        )))?;
    let mut consumer = channel
        .basic_consume(
            UNROUTED.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(TransportError::amqp(format!("consuming {UNROUTED}")))?;
    let (tx, rx) = mpsc::channel(usize::from(context.config.prefetch).max(1));
    let settler = tokio::spawn(settle(context.clone(), rx));
    let mut stopping = *stop.borrow();
    let result = loop {
        if stopping {
            break Ok(());
        }
        tokio::select! {
            biased;
            changed = stop.changed() => {
                stopping = changed.is_err() || *stop.borrow();
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    if let Err(e) = handle(&context, &publisher, &tx, delivery).await {
                        break Err(e);
                    }
                }
                Some(Err(e)) => break Err(TransportError::Amqp {
                    context: format!("consuming {UNROUTED}"),
                    source: e,
                }),
                None => break Err(TransportError::Session(format!("the consumer of {UNROUTED} was cancelled by the broker"))),
            },
        }
    };
    if result.is_ok() {
        // Cancel, then finish what the broker had already delivered.
        if let Err(e) = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(queue = UNROUTED, error = %e, "cancelling the consumer failed");
        }
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(std::time::Duration::from_millis(200), consumer.next()).await
        {
            handle(&context, &publisher, &tx, delivery).await?;
        }
    }
    drop(tx);
    // The settler ends when every pending input is acknowledged (or its channel is gone).
    if let Err(e) = settler.await {
        tracing::error!(error = %e, "the confirm task of {UNROUTED} failed");
    }
    result
}

/// Acknowledges inputs in order once their confirms arrive; an input whose copy is not
/// confirmed goes back to its queue.
async fn settle(context: Arc<Context>, mut rx: mpsc::Receiver<Pending>) {
    let m = &context.metrics;
    while let Some(p) = rx.recv().await {
        let acked = match p.confirms.settle().await {
            Ok(()) => p.acker.ack(BasicAckOptions::default()).await,
            Err(failure) => {
                m.publish_failures_total
                    .with_label_values(&["", failure.reason()])
                    .inc();
                tracing::warn!(error = %failure, "an unrouted input goes back to its queue: its dead letter is not confirmed");
                p.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
        };
        if let Err(e) = acked {
            m.ack_failures_total.with_label_values(&[""]).inc();
            tracing::warn!(error = %e, "an acknowledgement was refused; the broker will redeliver");
        }
        m.event_seconds
            .with_label_values(&[""])
            .observe(p.started.elapsed().as_secs_f64());
        m.events_in_flight.with_label_values(&[""]).dec();
    }
}

async fn handle(
    context: &Context,
    publisher: &Publisher,
    tx: &mpsc::Sender<Pending>,
    delivery: Delivery,
) -> Result<(), TransportError> {
    let started = Instant::now();
    context
        .metrics
        .events_in_flight
        .with_label_values(&[""])
        .inc();
    let mut confirms = Confirms::default();
    let routing_key = delivery.routing_key.as_str();
    let rejection = match crate::envelope_of(
        &delivery.properties,
        &delivery.data,
        context.limits,
        Utc::now(),
    ) {
        Err(rejection) => rejection,
        Ok(env) => Rejection::new(
            RejectReason::UnknownTenant,
            format!(
                "no bundle is loaded for tenant {:?} (routing key {routing_key:?}, event tenant {:?})",
                routing_key_tenant(routing_key),
                env.tenant.as_str()
            ),
        ),
    };
    let reason = rejection.reason.code();
    context
        .metrics
        .dead_letters_total
        .with_label_values(&["", reason])
        .inc();
    tracing::info!(reason, detail = %rejection.detail, "dead-lettering an unrouted input");
    publisher
        .dead_letter(
            &mut confirms,
            &delivery.properties,
            routing_key,
            &delivery.data,
            reason,
            &rejection.detail,
        )
        .await?;
    context
        .metrics
        .events_total
        .with_label_values(&["", "unroutable"])
        .inc();
    let pending = Pending {
        acker: delivery.acker,
        confirms,
        started,
    };
    tx.send(pending)
        .await
        .map_err(|_| TransportError::Session("the confirm task has stopped".into()))
}
