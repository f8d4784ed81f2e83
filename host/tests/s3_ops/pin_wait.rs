//! `X-IPFS-Pin-Wait`: a PUT that answers once its pin is done, `ClusterSplit` (nothing written)
//! while the cluster is split.

use ipfs_s3_host::meta::MetadataStore;

use crate::harness::Stack;

#[tokio::test]
async fn a_waiting_put_answers_pinned_and_a_split_cluster_refuses_it_writing_nothing() {
    let s = Stack::with_bucket("pinwait").await;
    let r = s.client.put("/pinwait/k", &[("x-ipfs-pin-wait", "true")], b"pinned before the answer").await;
    r.expect_status(200);
    assert_eq!((r.header("x-ipfs-pin-status"), r.header("x-ipfs-replication-count")), (Some("pinned"), Some("1")));
    let cid = r.header("x-ipfs-cid").unwrap().to_owned();
    assert!(s.cluster.pinned(&cid));

    s.cluster.split(true);
    s.watch.refresh().await.unwrap();
    let r = s.client.put("/pinwait/split", &[("x-ipfs-pin-wait", "5")], b"x").await;
    // In the default compatibility mode: the S3 code SDKs retry, the IPFS code beside it.
    r.expect_error(503, "ServiceUnavailable");
    assert_eq!(r.header("x-ipfs-error-code"), Some("ClusterSplit"));
    assert_eq!(r.tag("IPFSErrorCode").as_deref(), Some("ClusterSplit"));
    assert!(r.header("retry-after").is_some());
    assert!(s.store.get_mapping("pinwait", "split").await.unwrap().is_none(), "nothing written");
    // Without the header the PUT is accepted; its pin waits in the queue.
    s.client.put("/pinwait/split", &[], b"x").await.expect_status(200);

    s.client.put("/pinwait/bad", &[("x-ipfs-pin-wait", "later")], b"x").await.expect_error(400, "InvalidArgument");
    assert!(s.store.get_mapping("pinwait", "bad").await.unwrap().is_none());
}
