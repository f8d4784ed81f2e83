//! Hostile input of every kind must end in a decision, never a trap: a panic in the wasm VM
//! takes down every request of its Envoy worker. The pieces are those of the native
//! `odd_input_never_panics`, here through the real module and its hostcalls, plus what only the
//! wasm build sees (header values that are not UTF-8, odd resolve and gateway answers).

use ipfs_s3_wasm_host::harness::{Answer, Harness, Step};

use crate::client::{HOST, refs, signed};
use crate::{read_with, resolved, start};

const PIECES: [&str; 50] = [
    "", "/", "?", "&", "=", "%", "%zz", "%E1%88", "é", "ሴ", "+", " ", "\t", ",", ";", "/", "..", "//", "\"", "W/", "b", "k",
    "_internal", "AWS4-HMAC-SHA256", "AWS ", "Credential=", "SignedHeaders=", "Signature=", "AKTEST", "20231114T221320Z",
    "20231114", "us-east-1", "s3", "aws4_request", "host", "X-Amz-Algorithm=", "X-Amz-Date=", "X-Amz-Expires=",
    "X-Amz-Credential=", "X-Amz-SignedHeaders=", "X-Amz-Signature=", "AWSAccessKeyId=", "Signature=", "Expires=", "bytes=",
    "-", "0", "99999999999999999999", "response-content-type=", "versionId=",
];

pub struct Junk(pub u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn text(&mut self, n: u64) -> String {
        (0..n).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
    }
}

/// Takes any step to its end, answering calls and upstreams with junk.
fn finish(h: &mut Harness, id: u32, step: Step, junk: &mut Junk) {
    match step {
        Step::Replied(_) => {}
        Step::Waiting(call) => {
            let answer = match junk.next() % 4 {
                0 => None,
                1 => Some(Answer::new(200, junk.text(4))),
                2 => Some(Answer::new(404, junk.text(3))),
                _ => crate::found(&resolved()),
            };
            let next = h.answer(call.token, answer).unwrap();
            finish(h, id, next, junk);
        }
        Step::Continued(_) => {
            let status = [200, 206, 304, 404, 500, 0][(junk.next() % 6) as usize];
            let value = junk.text(3);
            h.respond(id, status, &[("content-range", value.as_str()), ("etag", value.as_str())]).unwrap();
        }
    }
}

#[test]
fn odd_requests_and_answers_never_trap() {
    let mut h = start();
    let mut junk = Junk(0x9e37_79b9_7f4a_7c15);
    for i in 0..1_500 {
        let path = format!("/{}", junk.text(6));
        let method = ["GET", "HEAD", "PUT"][i % 3];
        let mut headers = crate::client::h(&[(":method", method), (":path", &path), (":authority", HOST)]);
        for name in ["authorization", "x-amz-date", "date", "range", "if-match", "if-none-match", "if-modified-since", "if-range", "x-amz-content-sha256"] {
            headers.push((name.into(), junk.text(5)));
        }
        let (id, step) = h.request(&refs(&headers)).unwrap();
        finish(&mut h, id, step, &mut junk);
        // A valid signature with odd unsigned headers reaches the conditional and range code.
        let mut signed_req = signed("GET", "/b/k", &[]);
        for name in ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"] {
            signed_req.push((name.into(), junk.text(3)));
        }
        let (id, step) = h.request(&refs(&signed_req)).unwrap();
        if let Step::Replied(r) = &step {
            assert!(![400, 403].contains(&r.status), "signed request refused: {}", r.body_text());
        }
        finish(&mut h, id, step, &mut junk);
    }
    assert!(h.pending_calls().is_empty(), "every call was answered");
    // The VM is still fine.
    let (_, step) = read_with(&mut h, &signed("GET", "/b/after", &[]), &resolved());
    step.continued();
}

#[test]
fn header_values_that_are_not_utf8_do_not_trap() {
    let mut h = start();
    let mut headers: Vec<(&str, &[u8])> = vec![(":method", b"GET"), (":path", b"/b/k"), (":authority", HOST.as_bytes())];
    headers.push(("authorization", b"AWS4-HMAC-SHA256 Credential=\xff\xfe"));
    headers.push(("range", b"bytes=\xc3\x28"));
    let reply = h.request(&headers).unwrap().1.reply();
    assert_eq!((reply.status, crate::code(&reply).as_str()), (400, "AuthorizationHeaderMalformed"));
    // Signed, with a non-UTF-8 unsigned header: served.
    let signed_req = signed("GET", "/b/k", &[]);
    let mut raw: Vec<(&str, &[u8])> = signed_req.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    raw.push(("if-none-match", b"\"\x80\x81\""));
    let (_, step) = h.request(&raw).unwrap();
    step.call();
}

#[test]
fn odd_gateway_headers_on_the_response_do_not_trap() {
    let mut h = crate::uncached();
    let mut junk = Junk(7);
    for _ in 0..300 {
        let (id, step) = read_with(&mut h, &signed("GET", "/b/k", &[]), &resolved());
        step.continued();
        let (a, b) = (junk.text(4), junk.text(4));
        let down = h.respond(id, 200, &[("etag", a.as_str()), ("content-type", b.as_str()), ("x-ipfs-roots", a.as_str())]).unwrap();
        assert_eq!(down.continued().get("etag").as_deref(), Some(crate::ETAG));
    }
}
