//! The pin queue (priorities, claims, retries, recovery after a crash) and the pin state.

use std::time::Duration;

use ipfs_s3_common::record::{PinPriority, PinStatus};
use ipfs_s3_host::meta::{PinOp, PinState};

use super::{Harness, NOW, Redis, cids, drain, is_pin, prio_record, record};

pub(super) async fn pin_state_round_trip(h: &impl Harness) {
    let s = h.open("a").await;
    s.ping().await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), None);
    let st = PinState { status: PinStatus::Pinned, replication_count: 2, checked_ms: 5, error: None };
    s.set_pin_state("c", &st).await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), Some(st));
    let failed = PinState { status: PinStatus::Failed, replication_count: 0, checked_ms: 6, error: Some("PinTimeout".into()) };
    s.set_pin_state("c", &failed).await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), Some(failed), "a newer state replaces the older");
    assert_eq!(s.pin_state("other").await.unwrap(), None);
    s.clear_pin_state("c").await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), None);
    s.clear_pin_state("c").await.unwrap();
}

pub(super) async fn claim_waits_for_work_and_times_out_empty(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    assert!(s.queue.claim(4, Duration::from_millis(50)).await.unwrap().is_empty(), "nothing queued");
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.queue.claim(4, Duration::from_secs(30)).await })
    };
    // The claim is waiting (or about to): the write must wake it long before its 30 s are up.
    s.store_mapping("b", "k", &record("c", 1)).await.unwrap();
    let claimed = waiter.await.unwrap().unwrap();
    assert_eq!(claimed.len(), 1, "woken by the queued pin");
    assert!(is_pin(&claimed[0].op, "c"));
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
}

pub(super) async fn a_waiting_queue_claim_does_not_stall_other_calls(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.queue.claim(1, Duration::from_secs(2)).await })
    };
    // While the claim waits on the empty queue, ordinary calls must keep answering.
    for i in 0..20 {
        s.store_mapping("b", &format!("k{i}"), &record("c", 1)).await.unwrap();
        assert!(s.get_mapping("b", &format!("k{i}")).await.unwrap().is_some());
    }
    assert_eq!(waiter.await.unwrap().unwrap().len(), 1, "the claim took the first queued pin");
}

pub(super) async fn queue_survives_a_crash_between_claim_and_ack(h: &impl Harness) {
    let s = h.open("host-1").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("c2", 1)).await.unwrap();
    let claimed = s.queue.claim(1, NOW).await.unwrap();
    assert_eq!(cids(&claimed), ["c1"]);
    assert_eq!(s.queue.depth().await.unwrap().total(), 1);
    // Crash: the claim is never acknowledged; the store is reopened by the restarted instance.
    drop(s);
    let restarted = h.open("host-1").await;
    assert_eq!(restarted.queue.depth().await.unwrap().total(), 1, "in flight is not queued until recovered");
    assert_eq!(restarted.queue.recover().await.unwrap(), 1);
    assert_eq!(restarted.queue.recover().await.unwrap(), 0, "recovered once");
    assert_eq!(restarted.queue.depth().await.unwrap().total(), 2);
    let again = restarted.queue.claim(1, NOW).await.unwrap();
    assert_eq!(again, claimed, "recovered work is taken before newer work, and its CID is free again");
    restarted.queue.retry_later(&again, Duration::ZERO).await.unwrap();
    assert_eq!(restarted.queue.depth().await.unwrap().delayed, 1);
    let order: Vec<String> = drain(&restarted).await.iter().map(|o| o.cid().to_string()).collect();
    assert_eq!(order, ["c2", "c1"], "a due retry queues behind what was waiting");
}

pub(super) async fn high_goes_first_then_normal_then_low_each_in_queue_order(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for (key, prio) in [
        ("l1", PinPriority::Low),
        ("n1", PinPriority::Normal),
        ("h1", PinPriority::High),
        ("l2", PinPriority::Low),
        ("h2", PinPriority::High),
        ("n2", PinPriority::Normal),
    ] {
        s.store_mapping("b", key, &prio_record(key, prio)).await.unwrap();
    }
    let depth = s.queue.depth().await.unwrap();
    assert_eq!((depth.high, depth.normal, depth.low, depth.delayed), (2, 2, 2, 0));
    let order: Vec<String> = drain(&s).await.iter().map(|o| o.cid().to_string()).collect();
    assert_eq!(order, ["h1", "h2", "n1", "n2", "l1", "l2"]);
}

pub(super) async fn a_claim_takes_a_batch_across_priorities(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for i in 0..10 {
        let prio = if i % 2 == 0 { PinPriority::Low } else { PinPriority::High };
        s.store_mapping("b", &format!("k{i}"), &prio_record(&format!("c{i}"), prio)).await.unwrap();
    }
    let first = s.queue.claim(7, NOW).await.unwrap();
    assert_eq!(cids(&first), ["c1", "c3", "c5", "c7", "c9", "c0", "c2"]);
    assert!(first.iter().all(|c| c.attempts == 0));
    let rest = s.queue.claim(7, NOW).await.unwrap();
    assert_eq!(cids(&rest), ["c4", "c6", "c8"]);
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
    s.queue.ack(&first).await.unwrap();
    s.queue.ack(&rest).await.unwrap();
    assert_eq!(s.queue.recover().await.unwrap(), 0, "acknowledged work is not in flight");
}

pub(super) async fn a_cid_in_hand_is_not_claimed_again_until_released(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k1", &prio_record("x", PinPriority::Normal)).await.unwrap();
    s.store_mapping("b", "k2", &prio_record("x", PinPriority::Normal)).await.unwrap();
    s.store_mapping("b", "k3", &prio_record("y", PinPriority::Normal)).await.unwrap();
    // queued: pin x, pin x, pin y
    let first = s.queue.claim(1, NOW).await.unwrap();
    assert_eq!(cids(&first), ["x"]);
    // Another worker skips x, which is in the first one's hands, and gets y.
    let second = s.queue.claim(5, NOW).await.unwrap();
    assert_eq!(cids(&second), ["y"]);
    assert!(s.queue.claim(5, NOW).await.unwrap().is_empty(), "x is still in hand");
    s.queue.ack(&first).await.unwrap();
    let third = s.queue.claim(5, NOW).await.unwrap();
    assert_eq!(cids(&third), ["x"], "released by the acknowledgement");
    s.queue.retry_later(&second, Duration::ZERO).await.unwrap();
    assert_eq!(cids(&s.queue.claim(5, Duration::from_secs(5)).await.unwrap()), ["y"], "released by the retry");
}

pub(super) async fn one_claim_carries_every_queued_operation_of_a_cid(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &prio_record("x", PinPriority::Low)).await.unwrap();
    s.delete_mapping("b", "k").await.unwrap();
    s.store_mapping("b", "k", &prio_record("x", PinPriority::High)).await.unwrap();
    // queued: pin x (low), unpin x (normal), pin x (high)
    let batch = s.queue.claim(10, NOW).await.unwrap();
    let ops: Vec<&str> = batch.iter().map(|c| if matches!(c.op, PinOp::Pin { .. }) { "pin" } else { "unpin" }).collect();
    assert_eq!(ops, ["pin", "unpin", "pin"], "highest priority first, every operation of x in one batch");
    s.queue.ack(&batch).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
}

pub(super) async fn a_retry_waits_for_its_delay_and_counts_attempts(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &prio_record("x", PinPriority::High)).await.unwrap();
    let batch = s.queue.claim(1, NOW).await.unwrap();
    s.queue.retry_later(&batch, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1);
    assert!(s.queue.claim(1, NOW).await.unwrap().is_empty(), "not before its delay");
    // Its CID is free for other work meanwhile.
    s.store_mapping("b", "k2", &prio_record("x", PinPriority::Low)).await.unwrap();
    let other = s.queue.claim(1, NOW).await.unwrap();
    assert_eq!((cids(&other), other[0].attempts), (vec!["x".to_string()], 0));
    s.queue.ack(&other).await.unwrap();

    s.store_mapping("b", "k3", &prio_record("z", PinPriority::Low)).await.unwrap();
    let z = s.queue.claim(1, NOW).await.unwrap();
    s.queue.retry_later(&z, Duration::ZERO).await.unwrap();
    let again = s.queue.claim(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!((cids(&again), again[0].attempts), (vec!["z".to_string()], 1));
    s.queue.retry_later(&again, Duration::ZERO).await.unwrap();
    let third = s.queue.claim(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(third[0].attempts, 2);
    assert_eq!(third[0].op, z[0].op);
    s.queue.ack(&third).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1, "x's retry still waits");
}

#[tokio::test]
async fn redis_instances_recover_only_their_own_work() {
    let r = Redis::start();
    let s = r.open("host-1").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("c2", 1)).await.unwrap();
    assert_eq!(cids(&s.queue.claim(1, NOW).await.unwrap()), ["c1"]);
    let other = r.open("host-2").await;
    assert_eq!(other.queue.recover().await.unwrap(), 0, "host-2 cannot take host-1's work in flight");
    s.store_mapping("b", "k3", &record("c1", 1)).await.unwrap();
    assert_eq!(cids(&other.queue.claim(5, NOW).await.unwrap()), ["c2"], "c1 is in host-1's hands");
    assert_eq!(r.open("host-1").await.queue.recover().await.unwrap(), 1);
    assert_eq!(cids(&other.queue.claim(5, NOW).await.unwrap()), ["c1", "c1"], "recovery released c1");
}

fn batch_pin(cid: &str, factor: u32, priority: PinPriority) -> PinOp {
    PinOp::Pin { cid: cid.into(), replication_factor: factor, priority, name: "pin-batch".into() }
}

pub(super) async fn pin_batch_queues_every_pin_and_holds_one_operator_reference(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("shared", 1)).await.unwrap();
    drain(&s).await;
    let batch = [batch_pin("low", 1, PinPriority::Low), batch_pin("shared", 3, PinPriority::Normal), batch_pin("high", 2, PinPriority::High)];
    assert_eq!(s.pin_batch(&batch).await.unwrap(), 3);
    assert_eq!(s.queue.depth().await.unwrap().total(), 3, "one queued pin per CID");
    // Each keeps its own factor and priority: high first, low last.
    assert_eq!(drain(&s).await, vec![batch[2].clone(), batch[1].clone(), batch[0].clone()]);
    assert_eq!(s.cid_refs("shared").await.unwrap(), 2, "the key's reference and the operator's");
    assert_eq!(s.cid_refs("high").await.unwrap(), 1);

    // Pinned again (another factor): queued again, still one operator reference.
    assert_eq!(s.pin_batch(&[batch_pin("high", 1, PinPriority::High)]).await.unwrap(), 0);
    assert_eq!(s.cid_refs("high").await.unwrap(), 1);
    assert_eq!(drain(&s).await, vec![batch_pin("high", 1, PinPriority::High)]);
    let held = s.operator_pins(&["high".into(), "k".into(), "shared".into()]).await.unwrap();
    assert_eq!(held, vec![true, false, true]);

    // The object's deletion leaves the operator's pin; the operator's release then unpins.
    s.delete_mapping("b", "k").await.unwrap();
    assert!(drain(&s).await.is_empty(), "the operator still holds `shared`");
    assert!(s.release_operator_pin("shared").await.unwrap());
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "shared".into() }]);
    assert!(!s.release_operator_pin("shared").await.unwrap(), "released once");
    assert!(drain(&s).await.is_empty());
    assert_eq!(s.pin_batch(&[]).await.unwrap(), 0);
}

#[tokio::test]
async fn redis_instances_take_over_the_work_of_one_whose_lease_ran_out() {
    let r = Redis::start();
    let a = r.open("host-a").await;
    let b = r.open("host-b").await;
    a.create_bucket("b", 0).await.unwrap();
    a.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    a.queue.heartbeat().await.unwrap();
    b.queue.heartbeat().await.unwrap();
    assert_eq!(cids(&a.queue.claim(1, NOW).await.unwrap()), ["c1"]);
    let hour = Duration::from_secs(3600);
    assert_eq!(b.queue.recover_orphans(hour).await.unwrap(), 0, "host-a renewed its lease within the hour");
    assert!(b.queue.claim(5, NOW).await.unwrap().is_empty(), "c1 is in host-a's hands");
    // A lease of zero has run out for every heartbeat already given.
    assert_eq!(b.queue.recover_orphans(Duration::ZERO).await.unwrap(), 1, "host-a's work is taken over");
    assert_eq!(b.queue.recover_orphans(Duration::ZERO).await.unwrap(), 0, "taken over once");
    assert_eq!(a.queue.recover_orphans(Duration::ZERO).await.unwrap(), 0, "host-b holds nothing, and an instance never takes its own work");
    let again = b.queue.claim(5, NOW).await.unwrap();
    assert_eq!(cids(&again), ["c1"], "c1 is free again and claimed by host-b");
    b.queue.ack(&again).await.unwrap();
    assert_eq!(a.queue.recover().await.unwrap(), 0, "host-a, back, finds nothing of its own in flight");
    assert_eq!(b.queue.depth().await.unwrap().total(), 0);
}
