//! The dispatcher: a fixed pool of workers taking envelopes from the queue. It is the only
//! place that runs plugin code, and it runs every handler in its own task under a timeout, so
//! a handler that panics or hangs produces an error reply and a log line while the pool keeps
//! its size.

use crate::ask::{answer_topic, Answer, Park, BUTTON_PREFIX};
use crate::bot::{Completion, Core};
use crate::command::{parse_options, parse_prefix_args, split_invocation, ArgError, Args, Syntax};
use crate::ctx::Ctx;
use crate::envelope::{Envelope, EnvelopeKind};
use crate::error::Error;
use crate::events::Event;
use crate::metrics::HandlerLabels;
use crate::rank::Rank;
use crate::ranks::lock;
use crate::registry::{LoadedPlugin, Resolved};
use crate::reply::Reply;
use crate::shared::Claim;
use crate::timers::TIMER_ID_PREFIX;
use crate::webhook::WebhookRequest;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Keeps the live-worker count honest even if a worker ends unexpectedly.
struct WorkerGuard(Arc<Core>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0.stats.workers_alive.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One worker: takes envelopes until the queue is closed and drained. Each envelope is
/// handled in a task of its own; the worker waits for it, unless its handler parks to wait
/// for an answer ([`Ctx::ask`]), and then takes the next envelope while it waits.
pub(crate) async fn run_worker(core: Arc<Core>) {
    core.stats.workers_alive.fetch_add(1, Ordering::Relaxed);
    let _guard = WorkerGuard(Arc::clone(&core));
    while let Some(delivery) = core.queue.pop().await {
        let park = Arc::new(Park::default());
        let job = {
            // Registered before it can finish, so that it is always found to be removed.
            let mut jobs = lock(&core.jobs);
            let job = tokio::spawn(process(Arc::clone(&core), delivery, Arc::clone(&park)));
            jobs.insert(job.id(), job.abort_handle());
            job
        };
        tokio::select! {
            done = job => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "the handling of an envelope ended abnormally");
                }
            }
            () = park.parked() => {} // it goes on by itself
        }
    }
}

/// Handles one delivery: the redelivery dedupe, the handler, and settling it with the queue.
async fn process(core: Arc<Core>, delivery: crate::queue::Delivery, park: Arc<Park>) {
    handle_delivery(&core, delivery, park).await;
    lock(&core.jobs).remove(&tokio::task::id());
}

async fn handle_delivery(core: &Arc<Core>, delivery: crate::queue::Delivery, park: Arc<Park>) {
    let (envelope, settle) = delivery.split();
    let id = envelope.id.clone();
    let reply_to = envelope.reply_to.clone();
    let firing = StoredFiring::of(&envelope);
    let claim = match core.shared.dedupe.claim(&id).await {
        Ok(Claim::Running) => wait_for_other_delivery(core, &id, &settle).await,
        other => other,
    };
    match claim {
        Ok(Claim::Fresh) => {}
        Ok(Claim::Answered) => {
            core.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            crate::metrics::duplicate(&envelope.source);
            tracing::debug!(envelope = %id, attempt = settle.attempt(), "dropping redelivered envelope");
            settle.ack().await;
            if let Some(firing) = &firing {
                firing.done(core).await;
            }
            core.rendezvous.complete(&id, reply_to.as_deref(), Completion::Duplicate).await;
            return;
        }
        // The wait ends answered, taken over or failed, never running; were it to, the
        // envelope is delivered again later like a failed claim.
        Ok(Claim::Running) => {
            settle.nak(envelope, RECHECK).await;
            return;
        }
        Err(e) => {
            tracing::warn!(envelope = %id, error = %e, "cannot claim the envelope; it is delivered again later");
            settle.nak(envelope, RECHECK).await;
            return;
        }
    }
    core.begin();
    let attempt = Attempt::new(settle.attempt(), core.queue.max_deliver(), park);
    let envelope = Arc::new(envelope);
    // Every line logged while it is handled (plugins' own too) carries its id.
    let span = tracing::info_span!("handling", envelope = %id);
    let handled = tracing::Instrument::instrument(handle(core, Arc::clone(&envelope), &attempt), span);
    match core.queue.progress_interval() {
        // Tell the queue, now and then, that the envelope is still being handled, so that
        // it is not delivered to another worker while this one works on it.
        Some(every) => {
            tokio::pin!(handled);
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tokio::select! {
                    () = &mut handled => break,
                    _ = ticks.tick() => settle.in_progress().await,
                }
            }
        }
        None => handled.await,
    }
    if let Some(reason) = attempt.retry_reason() {
        // A service was unavailable: let go of the claim and have the queue deliver the
        // envelope again later (to any worker), nothing answered yet.
        if let Err(e) = core.shared.dedupe.release(&id).await {
            tracing::warn!(envelope = %id, error = %e, "cannot release the claim; the next delivery waits for it to expire");
        }
        let delay = retry_delay(attempt.number);
        tracing::warn!(envelope = %id, attempt = attempt.number, delay_ms = delay.as_millis() as u64, reason = %reason, "transient failure; the envelope is delivered again later");
        core.stats.retries.fetch_add(1, Ordering::Relaxed);
        let envelope = Arc::try_unwrap(envelope).unwrap_or_else(|shared| (*shared).clone());
        settle.nak(envelope, delay).await;
        core.finish();
        return;
    }
    if attempt.last && attempt.failed_transiently() {
        // Retried as often as the queue allows: the user got the error; the envelope goes
        // to the dead letters with why.
        let envelope = Arc::try_unwrap(envelope).unwrap_or_else(|shared| (*shared).clone());
        let reason = format!("failed on all {} deliveries: {}", attempt.number, attempt.failure().unwrap_or_default());
        if let Err(e) = core.shared.dedupe.answered(&id).await {
            tracing::warn!(envelope = %id, error = %e, "cannot record the envelope as answered");
        }
        core.stats.handled.fetch_add(1, Ordering::Relaxed);
        crate::metrics::dead_lettered(&envelope.source);
        settle.terminate(envelope, &reason).await;
        if let Some(firing) = &firing {
            firing.done(core).await;
        }
        core.finish();
        core.rendezvous.complete(&id, reply_to.as_deref(), Completion::Handled).await;
        return;
    }
    crate::metrics::handled(&envelope.source);
    drop(envelope);
    core.stats.handled.fetch_add(1, Ordering::Relaxed);
    // Recorded already when its first reply went out.
    if !attempt.answered.load(Ordering::Acquire) {
        if let Err(e) = core.shared.dedupe.answered(&id).await {
            tracing::warn!(envelope = %id, error = %e, "cannot record the envelope as answered");
        }
    }
    settle.ack().await;
    if let Some(firing) = &firing {
        firing.done(core).await;
    }
    core.finish();
    core.rendezvous.complete(&id, reply_to.as_deref(), Completion::Handled).await;
}

/// A firing of something stored (a timer, a schedule), settled in storage once handled.
enum StoredFiring {
    /// A timer's firing, by envelope id: the timer is deleted or moved to its next period.
    Timer(String),
    /// A schedule's firing: the schedule moves on to its next firing.
    Schedule { plugin: String, schedule: String, firing_ms: u64 },
}

impl StoredFiring {
    fn of(envelope: &Envelope) -> Option<Self> {
        match &envelope.kind {
            EnvelopeKind::Event { to_plugin: Some(_), .. } if envelope.id.starts_with(TIMER_ID_PREFIX) => {
                Some(StoredFiring::Timer(envelope.id.clone()))
            }
            EnvelopeKind::Schedule { plugin, schedule, firing_ms } => Some(StoredFiring::Schedule {
                plugin: plugin.clone(),
                schedule: schedule.clone(),
                firing_ms: *firing_ms,
            }),
            _ => None,
        }
    }

    async fn done(&self, core: &Core) {
        let now = crate::envelope::now_ms();
        match self {
            StoredFiring::Timer(id) => core.timers.done(id, now).await,
            StoredFiring::Schedule { plugin, schedule, firing_ms } => {
                core.schedules.done(plugin, schedule, *firing_ms, now).await
            }
        }
    }
}

/// When a delivery whose envelope is being handled by another one (or whose claim could not
/// be made) is looked at again.
const RECHECK: Duration = Duration::from_secs(1);

/// Waits while another delivery of the envelope is being handled, holding this one (kept from
/// redelivery by in-progress pings) instead of handing it back to the queue: each hand-back
/// counts as a delivery, and enough of them would send an envelope that is being handled to
/// the dead letters. Ends with `Answered` once the other delivery is answered, or `Fresh`
/// when its claim expired (its worker died) and this delivery took it over.
async fn wait_for_other_delivery(
    core: &Core,
    id: &str,
    settle: &crate::queue::Acknowledgement,
) -> Result<Claim, crate::shared::StateError> {
    core.stats.rechecks.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(envelope = %id, "another delivery of it is being handled; waiting for it");
    let ping = core.queue.progress_interval();
    let look = ping.map_or(RECHECK, |every| every.min(RECHECK));
    loop {
        tokio::time::sleep(look).await;
        if ping.is_some() {
            settle.in_progress().await;
        }
        match core.shared.dedupe.claim(id).await? {
            Claim::Running => {}
            decided => return Ok(decided),
        }
    }
}

/// The wait before delivery `attempt + 1` after a transient failure: 1 s, doubling, at most
/// 30 s.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// Which delivery of its envelope a handling is, and whether a service it needed was
/// unavailable (then the envelope is delivered again, unless this is the last delivery).
struct Attempt {
    number: u32,
    /// A reply to the origin was sent (the envelope is recorded as answered already).
    answered: Arc<std::sync::atomic::AtomicBool>,
    /// No delivery follows this one: a transient failure is answered as any failure.
    last: bool,
    transient: Mutex<Option<String>>,
    /// Parks the handler while it waits for an answer.
    park: Arc<Park>,
}

impl Attempt {
    fn new(number: u32, max_deliver: Option<u32>, park: Arc<Park>) -> Self {
        Attempt {
            number,
            answered: Arc::default(),
            park,
            last: max_deliver.is_none_or(|max| number >= max),
            transient: Mutex::new(None),
        }
    }

    /// Notes a transient failure; true when the envelope will be delivered again (so nothing
    /// is to be answered now).
    fn retry(&self, failure: &dyn std::fmt::Display) -> bool {
        lock(&self.transient).get_or_insert_with(|| failure.to_string());
        !self.last
    }

    fn failed_transiently(&self) -> bool {
        lock(&self.transient).is_some()
    }

    fn failure(&self) -> Option<String> {
        lock(&self.transient).clone()
    }

    /// Why the envelope must be delivered again, if it must.
    fn retry_reason(&self) -> Option<String> {
        if self.last {
            None
        } else {
            self.failure()
        }
    }
}

/// How a guarded handler ended.
enum Outcome<T> {
    Done(T),
    Failed(Error),
    Panicked(String),
    TimedOut,
}

/// Runs `fut` in its own task with the handler timeout; a panic or timeout never reaches the
/// worker.
async fn guarded<T: Send + 'static>(
    core: &Arc<Core>,
    labels: HandlerLabels,
    park: Arc<Park>,
    fut: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Outcome<T> {
    let begun = tokio::time::Instant::now();
    let mut task = tokio::spawn(tracing::Instrument::in_current_span(fut));
    let task_id = task.id();
    lock(&core.handlers).insert(task_id, task.abort_handle());
    // The timeout, lengthened by the time the handler waits for answers.
    let deadline = || begun + core.config.handler_timeout + park.extra();
    let outcome = loop {
        match tokio::time::timeout_at(deadline(), &mut task).await {
            Ok(Ok(Ok(value))) => break Outcome::Done(value),
            Ok(Ok(Err(e))) => break Outcome::Failed(e),
            Ok(Err(join)) if join.is_panic() => break Outcome::Panicked(panic_message(join.into_panic())),
            Ok(Err(_)) => break Outcome::Failed("cancelled at shutdown".into()),
            Err(_) if tokio::time::Instant::now() < deadline() => {} // lengthened meanwhile
            Err(_) => {
                task.abort();
                break Outcome::TimedOut;
            }
        }
    };
    lock(&core.handlers).remove(&task_id);
    let name = match &outcome {
        Outcome::Done(_) => "ok",
        Outcome::Failed(e) if crate::error::is_transient(e) => "unavailable",
        Outcome::Failed(_) => "failed",
        Outcome::Panicked(_) => "panicked",
        Outcome::TimedOut => "timed_out",
    };
    crate::metrics::handler_ran(&labels, name, begun.elapsed());
    outcome
}

/// The labels of a handler's metrics.
fn labels(envelope: &Envelope, plugin: &str, handler: String) -> HandlerLabels {
    HandlerLabels { source: envelope.source.clone(), plugin: plugin.to_string(), handler }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// What a guarded handler ran, for its counters, its log line and its error reply.
#[derive(Clone, Copy)]
enum Job<'a> {
    /// A command, by name.
    Command(&'a str),
    /// A button's handler, by the button's id.
    Button(&'a str),
    /// An autocomplete of a command.
    Autocomplete(&'a str),
    /// An event handler of a plugin.
    Event { plugin: &'a str, topic: &'a str },
    /// A webhook handler of a plugin.
    Webhook { plugin: &'a str, hook: &'a str },
    /// A schedule's handler of a plugin.
    Schedule { plugin: &'a str, schedule: &'a str },
}

impl Job<'_> {
    /// The handler, as a log line names it.
    fn describe(&self) -> String {
        match self {
            Job::Command(name) => format!("command `{name}`"),
            Job::Button(custom_id) => format!("button `{custom_id}`"),
            Job::Autocomplete(name) => format!("autocomplete of `{name}`"),
            Job::Event { plugin, topic } => format!("event handler of `{plugin}` for `{topic}`"),
            Job::Webhook { plugin, hook } => format!("webhook `{plugin}/{hook}`"),
            Job::Schedule { plugin, schedule } => format!("schedule `{plugin}/{schedule}`"),
        }
    }

    /// What to tell the user who invoked it, for what went wrong; `None` where nobody asked.
    fn reply(&self, problem: &Problem<'_>) -> Option<Reply> {
        let text = match (self, problem) {
            (Job::Command(name), Problem::Failed(e)) => format!("`{name}` failed: {e}"),
            (Job::Command(name), Problem::Panicked(envelope)) => {
                format!("`{name}` crashed with an internal error (logged as {envelope}).")
            }
            (Job::Command(name), Problem::TimedOut(after)) => format!("`{name}` timed out after {after}."),
            (Job::Button(_), Problem::Failed(e)) => format!("That button failed: {e}"),
            (Job::Button(_), Problem::Panicked(envelope)) => {
                format!("That button crashed with an internal error (logged as {envelope}).")
            }
            (Job::Button(_), Problem::TimedOut(_)) => "That button timed out.".to_string(),
            (Job::Autocomplete(_) | Job::Event { .. } | Job::Webhook { .. } | Job::Schedule { .. }, _) => return None,
        };
        Some(Reply::text(text))
    }
}

/// How a handler went wrong, with what its reply names.
enum Problem<'a> {
    Failed(&'a Error),
    Panicked(&'a str),
    TimedOut(String),
}

/// The one place where the end of a handler becomes counters, a log line and, for what a user
/// invoked, the error reply (as poise's `on_error`): `Ok` with the handler's value, or `Err`
/// with what to tell the user (`None` where nobody asked: events and suggestions).
///
/// For what a user invoked (`attempt` given), a failure of a service that is unavailable for
/// now is not answered unless this is the envelope's last delivery: it is noted on `attempt`,
/// and the envelope is delivered again.
fn settle<T>(
    core: &Core,
    envelope: &str,
    job: Job<'_>,
    outcome: Outcome<T>,
    attempt: Option<&Attempt>,
) -> Result<T, Option<Reply>> {
    let handler = job.describe();
    let problem = match &outcome {
        Outcome::Done(_) => None,
        Outcome::Failed(e) if attempt.is_some_and(|a| crate::error::is_transient(e) && a.retry(e)) => {
            tracing::info!(envelope, handler, error = %e, "handler met an unavailable service; not answered");
            return Err(None);
        }
        Outcome::Failed(e) if crate::error::is_refusal(e) => {
            tracing::info!(envelope, handler, refusal = %e, "handler refused what was asked");
            Some(Problem::Failed(e))
        }
        Outcome::Failed(e) => {
            core.stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(envelope, handler, error = %e, "handler failed");
            Some(Problem::Failed(e))
        }
        Outcome::Panicked(panic) => {
            core.stats.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(envelope, handler, panic = %panic, "handler panicked");
            Some(Problem::Panicked(envelope))
        }
        Outcome::TimedOut => {
            core.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            let after = humantime::format_duration(round(core.config.handler_timeout)).to_string();
            tracing::error!(envelope, handler, timeout = %after, "handler timed out");
            Some(Problem::TimedOut(after))
        }
    };
    let reply = problem.map(|p| job.reply(&p));
    match outcome {
        Outcome::Done(value) => Ok(value),
        _ => Err(reply.flatten()),
    }
}

/// The envelope with its author's person set when the author linked their identity (`!link`),
/// so that ranks, bans, cooldowns and plugin data are the person's.
fn linked(core: &Core, envelope: Arc<Envelope>) -> Arc<Envelope> {
    let person = core.identities.person_of(&envelope.author.identity());
    if person == envelope.author.person {
        return envelope;
    }
    let mut resolved = (*envelope).clone();
    resolved.author.person = person;
    Arc::new(resolved)
}

async fn handle(core: &Arc<Core>, envelope: Arc<Envelope>, attempt: &Attempt) {
    let envelope = linked(core, envelope);
    let rank = match core.ranks.rank_of(&envelope.author).await {
        Ok(rank) => rank,
        Err(e) => {
            tracing::error!(envelope = %envelope.id, error = %e, "cannot read rank; treating author as rank 0");
            Rank::EVERYONE
        }
    };
    if let EnvelopeKind::Webhook { plugin, hook, headers, body } = &envelope.kind {
        let request = WebhookRequest { hook: hook.clone(), headers: headers.clone(), body: body.clone() };
        webhook(core, &envelope, rank, plugin, request).await;
        return;
    }
    if let EnvelopeKind::Schedule { plugin, schedule: name, .. } = &envelope.kind {
        scheduled(core, &envelope, rank, plugin, name).await;
        return;
    }
    if let EnvelopeKind::Event { to_plugin: Some(target), .. } = &envelope.kind {
        // A timer's firing: for the plugin that set it alone, whoever set it.
        match (core.registry.plugin(target), Event::from_envelope(&envelope)) {
            (Some(plugin), Some(event)) if plugin.is_enabled() => {
                run_event_handlers(core, &event, rank, vec![plugin]).await
            }
            _ => {
                tracing::debug!(envelope = %envelope.id, plugin = %target, "dropping a timer of a plugin that is not running")
            }
        }
        return;
    }
    if rank.is_banned() {
        tracing::debug!(envelope = %envelope.id, author = %envelope.author.key(), "ignoring banned user");
        return;
    }
    if let EnvelopeKind::Message { text } = &envelope.kind {
        if let Some(question) = core.questions.waiting_for(&envelope, crate::envelope::now_ms()) {
            // The answer to a question put to its sender there: not a command, not an event.
            answer(core, &envelope, &question, Answer::Text(text.clone())).await;
            return;
        }
    }
    if let Some(event) = Event::from_envelope(&envelope) {
        deliver_event(core, &event, rank).await;
    }
    match &envelope.kind {
        EnvelopeKind::Message { text } => {
            if let Some(line) = split_invocation(text, &core.config.prefix) {
                match core.registry.resolve_line(line, core.config.case_sensitive_commands) {
                    Some((found, rest)) => {
                        let parsed = parse_prefix_args(&found.spec().params, rest, &envelope.source);
                        run_command(core, &envelope, rank, found, parsed, Syntax::Prefix(&core.config.prefix), attempt)
                            .await;
                    }
                    None => {
                        let word = line.split_whitespace().next().unwrap_or(line);
                        let p = &core.config.prefix;
                        send_notice(core, &envelope, format!("Unknown command `{p}{word}`. Try `{p}help`.")).await;
                    }
                }
            }
        }
        EnvelopeKind::Command { name, options } => match core.registry.resolve_name(name) {
            Some(found) => {
                let parsed = parse_options(&found.spec().params, options, &envelope.source);
                run_command(core, &envelope, rank, found, parsed, Syntax::Slash, attempt).await;
            }
            None => send_notice(core, &envelope, format!("Unknown command `/{name}`.")).await,
        },
        EnvelopeKind::Autocomplete { command, param, partial } => {
            suggest(core, &envelope, rank, command, param, partial).await;
        }
        EnvelopeKind::Component { custom_id } => component(core, &envelope, rank, custom_id, attempt).await,
        _ => {}
    }
}

/// Discord shows at most 25 suggestions.
const MAX_SUGGESTIONS: usize = 25;

async fn suggest(core: &Arc<Core>, envelope: &Arc<Envelope>, rank: Rank, command: &str, param: &str, partial: &str) {
    let mut choices = Vec::new();
    if let Some(found) = core.registry.resolve_name(command) {
        let spec = found.spec();
        let allowed = found.plugin.is_enabled() && rank >= core.required_rank(spec);
        if allowed && spec.params.iter().any(|p| p.name == param && p.autocomplete) {
            let ctx = Ctx {
                envelope: Arc::clone(envelope),
                rank,
                plugin: Arc::clone(&found.plugin),
                core: Arc::clone(core),
                command: Some(spec.name.clone()),
                answered: Arc::default(),
                park: Arc::default(),
            };
            let plugin = Arc::clone(&found.plugin.plugin);
            let (name, param, partial) = (spec.name.clone(), param.to_string(), partial.to_string());
            let command = spec.name.clone();
            let labels = labels(envelope, &found.plugin.meta.name, format!("autocomplete:{}", spec.name));
            let outcome = guarded(core, labels, Arc::default(), async move {
                plugin.autocomplete(&ctx, &name, &param, &partial).await
            })
            .await;
            if let Ok(list) = settle(core, &envelope.id, Job::Autocomplete(&command), outcome, None) {
                choices = list;
            }
        }
    }
    choices.truncate(MAX_SUGGESTIONS);
    if let Some(connector) = core.connector(&envelope.source) {
        if let Err(e) = connector.suggest(envelope, choices).await {
            tracing::warn!(envelope = %envelope.id, error = %e, "could not send suggestions");
        }
    }
}

/// Sends `answer` to the handler waiting for question `question`, wherever it runs.
async fn answer(core: &Arc<Core>, envelope: &Arc<Envelope>, question: &str, answer: Answer) {
    // Closed here at once, so that a second message is not taken as an answer too.
    core.questions.close(question);
    let data = serde_json::to_value(&answer).unwrap_or_default();
    let event = Event { topic: answer_topic(question), data, envelope: Arc::clone(envelope) };
    if let Err(e) = core.shared.events.publish(&event).await {
        tracing::warn!(envelope = %envelope.id, question, error = %e, "cannot pass on the answer to a question");
    }
}

/// A click on a question's Yes or No button (`<plugin>:regis-ask:<id>:<yes|no>`), if it is one:
/// passed on when its clicker is the one asked; whether it was one.
async fn question_button(core: &Arc<Core>, envelope: &Arc<Envelope>, custom_id: &str) -> bool {
    let Some(rest) = custom_id.split_once(':').and_then(|(_, id)| id.strip_prefix(BUTTON_PREFIX)) else {
        return false;
    };
    let (question, choice) = rest.rsplit_once(':').unwrap_or((rest, ""));
    let notice = match core.questions.asked(question, crate::envelope::now_ms()) {
        None => "This question is no longer open.".to_string(),
        Some(asked) if !asked.is(&envelope.author) => "This question is not yours to answer.".to_string(),
        Some(_) => {
            let (given, said) = if choice == "yes" { (Answer::Yes, "Yes") } else { (Answer::No, "No") };
            answer(core, envelope, question, given).await;
            format!("{}: {said}.", envelope.author.name)
        }
    };
    send_notice(core, envelope, notice).await;
    true
}

async fn component(core: &Arc<Core>, envelope: &Arc<Envelope>, rank: Rank, custom_id: &str, attempt: &Attempt) {
    if question_button(core, envelope, custom_id).await {
        return;
    }
    let target = custom_id.split_once(':').and_then(|(p, id)| Some((core.registry.plugin(p)?, id)));
    let Some((plugin, id)) = target.filter(|(p, _)| p.is_enabled()) else {
        send_notice(core, envelope, "This button is no longer handled.".into()).await;
        return;
    };
    let ctx = Ctx {
        envelope: Arc::clone(envelope),
        rank,
        plugin: Arc::clone(&plugin),
        core: Arc::clone(core),
        command: None,
        answered: Arc::clone(&attempt.answered),
        park: Arc::clone(&attempt.park),
    };
    let handler = Arc::clone(&plugin.plugin);
    let (run_ctx, id) = (ctx.clone(), id.to_string());
    let labels = labels(envelope, &plugin.meta.name, "button".into());
    let outcome =
        guarded(core, labels, Arc::clone(&attempt.park), async move { handler.on_component(&run_ctx, &id).await })
            .await;
    let reply = match settle(core, &envelope.id, Job::Button(custom_id), outcome, Some(attempt)) {
        Ok(Some(reply)) => reply,
        Ok(None) => Reply::text("This button is no longer handled."),
        Err(reply) => reply.unwrap_or_default(),
    };
    send_reply(&ctx, reply, attempt).await;
}

/// The context of a handler nobody is waiting on (a schedule's, a webhook's): no command, no
/// answer expected.
fn unprompted_ctx(core: &Arc<Core>, envelope: &Arc<Envelope>, rank: Rank, plugin: &Arc<LoadedPlugin>) -> Ctx {
    Ctx {
        envelope: Arc::clone(envelope),
        rank,
        plugin: Arc::clone(plugin),
        core: Arc::clone(core),
        command: None,
        answered: Arc::default(),
        park: Arc::default(),
    }
}

/// Runs a plugin's schedule handler for one firing; failures are logged and counted (nobody
/// asked), and the schedule moves on to its next firing either way.
async fn scheduled(core: &Arc<Core>, envelope: &Arc<Envelope>, rank: Rank, plugin: &str, name: &str) {
    let Some(loaded) = core.registry.plugin(plugin).filter(|p| p.is_enabled()) else {
        tracing::info!(envelope = %envelope.id, plugin, schedule = name, "a schedule of a plugin that is not running; skipped");
        return;
    };
    let ctx = unprompted_ctx(core, envelope, rank, &loaded);
    let handler = Arc::clone(&loaded.plugin);
    let schedule = name.to_string();
    let labels = labels(envelope, plugin, format!("schedule:{name}"));
    let outcome =
        guarded(core, labels, Arc::default(), async move { handler.on_schedule(&ctx, &schedule).await }).await;
    if let Ok(None) = settle(core, &envelope.id, Job::Schedule { plugin, schedule: name }, outcome, None) {
        tracing::warn!(envelope = %envelope.id, plugin, schedule = name, "the plugin has no such schedule; skipped");
    }
}

/// Runs a plugin's webhook handler; failures are logged and counted (the sender was answered
/// when the request was queued).
async fn webhook(core: &Arc<Core>, envelope: &Arc<Envelope>, rank: Rank, plugin: &str, request: WebhookRequest) {
    let Some(loaded) = core.registry.plugin(plugin).filter(|p| p.is_enabled()) else {
        tracing::warn!(envelope = %envelope.id, plugin, hook = %request.hook, "webhook of a plugin that is not running; dropped");
        return;
    };
    let ctx = unprompted_ctx(core, envelope, rank, &loaded);
    let handler = Arc::clone(&loaded.plugin);
    let hook = request.hook.clone();
    let labels = labels(envelope, plugin, format!("webhook:{hook}"));
    let outcome = guarded(core, labels, Arc::default(), async move { handler.on_webhook(&ctx, &request).await }).await;
    match settle(core, &envelope.id, Job::Webhook { plugin, hook: &hook }, outcome, None) {
        Ok(Some(())) => {}
        Ok(None) => {
            tracing::warn!(envelope = %envelope.id, plugin, hook = %hook, "the plugin has no such webhook; dropped")
        }
        Err(_) => {}
    }
}

async fn deliver_event(core: &Arc<Core>, event: &Event, rank: Rank) {
    if let Err(e) = core.shared.events.publish(event).await {
        tracing::warn!(envelope = %event.envelope.id, topic = %event.topic, error = %e, "event not fanned out to subscriptions");
    }
    run_event_handlers(core, event, rank, core.registry.subscribers(&event.topic)).await;
}

/// Runs the event handlers of `plugins` for `event`, side by side.
async fn run_event_handlers(core: &Arc<Core>, event: &Event, rank: Rank, plugins: Vec<Arc<LoadedPlugin>>) {
    let runs = plugins.into_iter().map(|plugin| {
        let ctx = Ctx {
            envelope: Arc::clone(&event.envelope),
            rank,
            plugin: Arc::clone(&plugin),
            core: Arc::clone(core),
            command: None,
            answered: Arc::default(),
            park: Arc::default(),
        };
        let event = event.clone();
        let envelope_id = event.envelope.id.clone();
        async move {
            let name = plugin.meta.name.clone();
            let topic = event.topic.clone();
            let handler = Arc::clone(&plugin.plugin);
            let labels = labels(&event.envelope, &name, format!("event:{topic}"));
            let outcome =
                guarded(core, labels, Arc::default(), async move { handler.on_event(&ctx, &event).await }).await;
            let _ = settle(core, &envelope_id, Job::Event { plugin: &name, topic: &topic }, outcome, None);
        }
    });
    futures::future::join_all(runs).await;
}

async fn run_command(
    core: &Arc<Core>,
    envelope: &Arc<Envelope>,
    rank: Rank,
    found: Resolved,
    parsed: Result<Args, ArgError>,
    syntax: Syntax<'_>,
    attempt: &Attempt,
) {
    let spec = found.spec();
    let name = spec.name.clone();
    if !found.plugin.is_enabled() {
        let plugin = &found.plugin.meta.name;
        send_notice(core, envelope, format!("`{name}` is unavailable: plugin `{plugin}` is disabled.")).await;
        return;
    }
    let required = core.required_rank(spec);
    if rank < required {
        send_notice(core, envelope, format!("`{name}` needs rank {required}; yours is {rank}.")).await;
        return;
    }
    let args = match parsed {
        Ok(args) => args,
        Err(e) => {
            let usage = spec.usage(syntax);
            send_notice(core, envelope, format!("{e}\nUsage: {usage}")).await;
            return;
        }
    };
    if let Some(cooldown) = &found.plugin.cooldowns[found.index] {
        let key = match cooldown.scope {
            crate::cooldown::CooldownScope::User => envelope.author.key(),
            crate::cooldown::CooldownScope::Channel => {
                envelope.channel.as_ref().map(|c| c.id.clone()).unwrap_or_default()
            }
            crate::cooldown::CooldownScope::Guild => envelope.guild.clone().unwrap_or_default(),
            crate::cooldown::CooldownScope::Global => String::new(),
        };
        match core.shared.cooldowns.try_use(&name, &key, cooldown).await {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                send_notice(core, envelope, format!("`{name}` is cooling down; try again in {secs}s.")).await;
                return;
            }
            // A cooldown is a courtesy limit: when its counters cannot be reached the command
            // runs, and the log says why it was not counted.
            Err(e) => tracing::warn!(envelope = %envelope.id, command = %name, error = %e, "cooldown not counted"),
        }
    }
    let ctx = Ctx {
        envelope: Arc::clone(envelope),
        rank,
        plugin: Arc::clone(&found.plugin),
        core: Arc::clone(core),
        command: Some(name.clone()),
        answered: Arc::clone(&attempt.answered),
        park: Arc::clone(&attempt.park),
    };
    let plugin = Arc::clone(&found.plugin.plugin);
    let run_ctx = ctx.clone();
    let command = name.clone();
    let labels = labels(envelope, &found.plugin.meta.name, name.clone());
    let outcome =
        guarded(core, labels, Arc::clone(&attempt.park), async move { plugin.invoke(&run_ctx, &command, args).await })
            .await;
    let reply = match settle(core, &envelope.id, Job::Command(&name), outcome, Some(attempt)) {
        Ok(reply) => reply,
        Err(reply) => reply.unwrap_or_default(),
    };
    send_reply(&ctx, reply, attempt).await;
}

/// Sends the reply a handler returned (or its error reply); when the chat service is
/// unavailable for now, the envelope is delivered again.
async fn send_reply(ctx: &Ctx, mut reply: Reply, attempt: &Attempt) {
    if reply.is_empty() {
        // An ingress that answers at once (no request-reply) deferred this interaction: the
        // user sees "thinking…" until something replaces it, so a handler that said nothing
        // is answered as an ingress that waited would answer it.
        let deferred_at_once = ctx.core.rendezvous.answers_at_once()
            && matches!(ctx.envelope.kind, EnvelopeKind::Command { .. } | EnvelopeKind::Component { .. });
        if !deferred_at_once || attempt.answered.load(Ordering::Acquire) {
            return;
        }
        // Public, as the deferral was: one edit (an ephemeral note would need two calls).
        reply = Reply::text("Done.");
    }
    if let Err(e) = ctx.reply(reply).await {
        let envelope = &ctx.envelope().id;
        if matches!(&e, crate::ctx::CtxError::Connector(crate::ConnectorError::Unavailable(_))) && attempt.retry(&e) {
            tracing::info!(envelope = %envelope, error = %e, "the reply could not be sent now");
        } else {
            tracing::warn!(envelope = %envelope, error = %e, "could not send reply");
        }
    }
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Sends a short notice from the bot itself (usage, unknown command, rank refusal, cooldown):
/// for the asker alone where the service can (ephemeral on Discord interactions).
async fn send_notice(core: &Arc<Core>, envelope: &Envelope, text: String) {
    let Some(connector) = core.connector(&envelope.source) else {
        tracing::warn!(source = %envelope.source, "no connector to answer through");
        return;
    };
    let notice = Reply::text(text).ephemeral();
    if let Err(e) = connector.send(Some(envelope), &crate::connector::Destination::Origin, notice).await {
        tracing::warn!(envelope = %envelope.id, error = %e, "could not send notice");
    }
}
