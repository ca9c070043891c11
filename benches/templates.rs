//! Template rendering, on the hot path of every message sent.
//! `cargo bench --bench templates`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rocketload::scenario::{RenderCtx, Template};

fn render(c: &mut Criterion) {
    let message =
        Template::parse("hello from {{username}} in {{room}} #{{seq}} (vu {{vu}}, it {{iteration}}) roll {{rand_int 1 6}}")
            .expect("valid template");
    let with_uuid = Template::parse("id {{uuid}} seq {{seq}}").expect("valid template");
    let literal = Template::parse("a plain message without placeholders").expect("valid template");
    let mut vars = HashMap::new();
    vars.insert("username".to_string(), "load-000123".to_string());
    let mut rng = StdRng::seed_from_u64(1);
    let mut seq = 0u64;

    let mut ctx = RenderCtx {
        vu: 123,
        iteration: 45,
        seq: &mut seq,
        room: Some("load-room-7"),
        vars: &vars,
        rng: &mut rng,
    };
    c.bench_function("template/render message", |b| {
        b.iter(|| black_box(message.render(&mut ctx)))
    });
    let mut buf = String::with_capacity(128);
    c.bench_function("template/render_into reused buffer", |b| {
        b.iter(|| {
            buf.clear();
            black_box(message.render_into(&mut ctx, &mut buf)).ok();
        })
    });
    c.bench_function("template/render uuid", |b| {
        b.iter(|| black_box(with_uuid.render(&mut ctx)))
    });
    c.bench_function("template/render literal", |b| {
        b.iter(|| black_box(literal.render(&mut ctx)))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
