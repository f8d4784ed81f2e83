//! Conformance of the metadata stores: every case is written once against `MetadataStore` and
//! `PinQueue` and runs against each implementation, `redis::<case>` on a real `redis-server`
//! started per test on a free loopback port (Redis must be installed; `make test` installs it)
//! and `embedded::<case>` on a database file in a temporary directory. The cases are grouped by
//! family of operation, one file each, like the stores; a few of them hold for one store only
//! (named after it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use ipfs_s3_host::meta::embedded::EmbeddedStore;
use ipfs_s3_host::meta::{AccountStore, Claimed, MetadataStore, PinOp, PinQueue};
#[path = "../common/mod.rs"]
mod common;
use common::Redis;

mod access;
mod accounts;
mod buckets;
mod objects;
mod queue;
mod restart;
mod uploads;

/// One store, through the two traits the host uses.
#[derive(Clone)]
struct Store {
    meta: Arc<dyn MetadataStore>,
    queue: Arc<dyn PinQueue>,
    accounts: Arc<dyn AccountStore>,
}

impl std::ops::Deref for Store {
    type Target = dyn MetadataStore;
    fn deref(&self) -> &Self::Target {
        &*self.meta
    }
}

/// Where a store's data lives between openings.
trait Harness {
    /// Opens the store as host instance `instance`. Reopening after dropping every handle is a
    /// restart of the host: the Redis server keeps running, the embedded file is closed and
    /// opened again (it admits one open handle at a time).
    async fn open(&self, instance: &str) -> Store;
}

impl Harness for Redis {
    async fn open(&self, instance: &str) -> Store {
        let s = Arc::new(self.store(instance).await);
        Store { meta: s.clone(), queue: s.clone(), accounts: s }
    }
}

struct Embedded {
    dir: tempfile::TempDir,
}

impl Embedded {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
    fn path(&self) -> PathBuf {
        self.dir.path().join("meta").join("ipfs-s3.redb")
    }
}

impl Harness for Embedded {
    async fn open(&self, _instance: &str) -> Store {
        let s = Arc::new(EmbeddedStore::open(&self.path()).await.unwrap());
        Store { meta: s.clone(), queue: s.clone(), accounts: s }
    }
}

/// Runs each listed case (`family::{case, ...}`: the function `case` of the module `family`)
/// once per store, as `redis::case` and `embedded::case`.
macro_rules! conformance {
    ($($family:ident::{$($case:ident),* $(,)?}),* $(,)?) => {
        mod redis {
            $($(#[tokio::test] async fn $case() { super::$family::$case(&super::Redis::start()).await })*)*
        }
        mod embedded {
            $($(#[tokio::test] async fn $case() { super::$family::$case(&super::Embedded::new()).await })*)*
        }
    };
}

conformance!(
    accounts::{accounts_are_unique_by_key_and_name, accounts_survive_a_restart},
    buckets::{buckets_lifecycle, delete_bucket_looks_at_its_own_keys_only, buckets_have_an_owner_and_an_acl},
    objects::{
        mapping_round_trip_and_missing_bucket,
        conditional_writes_check_the_current_mapping_atomically,
        tombstones_refuse_unmigrated_writes_and_go_with_the_bucket,
        reference_counts_decide_unpins,
        references_are_shared_across_buckets,
        batch_operations,
        batch_refuses_only_mappings_into_missing_buckets,
        scan_is_byte_ordered_with_prefix_after_and_limit,
        scan_stays_inside_its_bucket,
        a_rolled_scan_gives_the_first_key_of_each_common_prefix,
    },
    queue::{
        pin_state_round_trip,
        claim_waits_for_work_and_times_out_empty,
        a_waiting_queue_claim_does_not_stall_other_calls,
        queue_survives_a_crash_between_claim_and_ack,
        high_goes_first_then_normal_then_low_each_in_queue_order,
        a_claim_takes_a_batch_across_priorities,
        a_cid_in_hand_is_not_claimed_again_until_released,
        one_claim_carries_every_queued_operation_of_a_cid,
        a_retry_waits_for_its_delay_and_counts_attempts,
        pin_batch_queues_every_pin_and_holds_one_operator_reference,
    },
    restart::{data_survives_a_restart},
    access::{
        access_statistics_count_batches_and_go_with_the_mapping,
        a_completed_upload_is_a_new_object_too,
        replica_candidates_and_effective_factor,
    },
    uploads::{
        upload_parts_hold_references_until_completed,
        abort_expiry_and_bucket_deletion_release_parts,
        the_expiry_sweep_aborts_only_abandoned_uploads,
    },
);

fn record(cid: &str, size: u64) -> ObjectRecord {
    ObjectRecord {
        cid: cid.into(),
        size,
        etag: format!("etag-{cid}"),
        content_type: "text/plain".into(),
        last_modified_ms: 1_700_000_000_000,
        user_metadata: BTreeMap::from([("k".into(), "v".into())]),
        replication_factor: 2,
        pin_priority: PinPriority::High,
        ..Default::default()
    }
}

/// Claims and acknowledges everything queued, one at a time, in order.
async fn drain(s: &Store) -> Vec<PinOp> {
    let mut ops = Vec::new();
    loop {
        let batch = s.queue.claim(1, NOW).await.unwrap();
        if batch.is_empty() {
            return ops;
        }
        s.queue.ack(&batch).await.unwrap();
        ops.extend(batch.into_iter().map(|c| c.op));
    }
}

/// How long a claim may wait when work is known to be there (or known not to be).
const NOW: Duration = Duration::from_millis(20);

fn cids(batch: &[Claimed]) -> Vec<String> {
    batch.iter().map(|c| c.op.cid().to_string()).collect()
}

fn prio_record(cid: &str, priority: PinPriority) -> ObjectRecord {
    common::record(cid, 1, priority)
}

fn is_pin(op: &PinOp, want: &str) -> bool {
    matches!(op, PinOp::Pin { cid, .. } if cid == want)
}
