//! Two bots sharing one data directory and one in-process `SharedState` behave as two workers
//! of one bot (the test kit's conformance check, which the NATS state passes too); and the
//! check fails for two bots that do not share their state.

use regis::SharedState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_sharing_the_in_process_state_behave_as_two_workers() {
    let shared = SharedState::in_process(1000);
    regis_testkit::workers::check_shared_state(shared.clone(), shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_with_their_own_state_do_not() {
    let separate = tokio::spawn(regis_testkit::workers::check_shared_state(
        SharedState::in_process(1000),
        SharedState::in_process(1000),
    ));
    assert!(separate.await.is_err(), "the check must fail when nothing is shared");
}
