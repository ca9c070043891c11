//! DDP frame hot paths: encoding a `sendMessage` call and decoding the
//! `changed` frame every subscribed receiver parses per message.
//!
//! Run: `cargo bench --bench ddp`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rocketload::rocketchat::MessageToken;
use rocketload::rocketchat::ddp::frame::{Incoming, encode_method};
use serde_json::json;

/// A `stream-room-messages` event as Rocket.Chat sends it (~400 bytes).
const CHANGED: &str = r#"{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"GENERAL","args":[{"_id":"Xk2bYtqmcGz7Pdf3R","rid":"GENERAL","msg":"hello from load-17 [rl:7:17:1042:1795802885610123]","ts":{"$date":1795802885610},"u":{"_id":"uid-load-17","username":"load-17","name":"Load 17"},"_updatedAt":{"$date":1795802885610},"urls":[],"mentions":[],"channels":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"hello"}]}]}]}}"#;

fn bench(c: &mut Criterion) {
    let params = vec![json!({
        "_id": "Xk2bYtqmcGz7Pdf3R",
        "rid": "GENERAL",
        "msg": "hello from load-17 [rl:7:17:1042:1795802885610123]",
    })];
    c.bench_function("ddp/encode_sendMessage", |b| {
        b.iter(|| encode_method(black_box(1042), "sendMessage", black_box(&params)))
    });
    c.bench_function("ddp/decode_changed_400B", |b| {
        b.iter(|| {
            let frame = Incoming::parse(black_box(CHANGED)).ok();
            frame.and_then(|f| f.fields).map(|f| f.args.len())
        })
    });
    c.bench_function("ddp/decode_changed_and_find_token", |b| {
        b.iter(|| {
            let frame = Incoming::parse(black_box(CHANGED)).ok()?;
            let args = frame.fields?.args;
            MessageToken::find(args.first()?.get("msg")?.as_str()?)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
