//! A validator following a live node over JSON-RPC accepts its blocks; a node serving a
//! tampered block is detected and nothing from that block on is imported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prova_chain::{BlockWithWitness, Chain};
use prova_rpc::{Mining, RpcConfig, RpcServer};
use prova_validator::client;
use prova_validator::{FollowEnd, FollowEvent, fetch_genesis, follow};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

fn serve(rt: &tokio::runtime::Runtime, chain: Chain, mining: Mining) -> RpcServer {
    let config = RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        mining,
        relay: None,
    };
    rt.block_on(prova_rpc::start(std::sync::Arc::new(chain), config))
        .unwrap()
}

fn block_number(url: &str) -> u64 {
    let v = client::call(url, "eth_blockNumber", json!([])).unwrap();
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn a_validator_follows_a_live_node_and_serves_what_it_verified() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let producer_dir = tempfile::tempdir().unwrap();
    let producer = Chain::open_with_runtime(producer_dir.path(), genesis(), runtime()).unwrap();
    let producer = serve(&rt, producer, Mining::Auto);
    let url = producer.url();

    let g = fetch_genesis(&url).unwrap();
    assert_eq!(g, genesis());
    let validator_dir = tempfile::tempdir().unwrap();
    let ours = Chain::open_with_runtime(validator_dir.path(), g, runtime()).unwrap();
    let validator = serve(&rt, ours, Mining::ReadOnly);
    let stop = Arc::new(AtomicBool::new(false));
    let (node, source, flag) = (validator.node().clone(), url.clone(), stop.clone());
    let follower = std::thread::spawn(move || {
        let mut imported = Vec::new();
        let end = follow(
            node.chain(),
            &source,
            Duration::from_millis(20),
            &flag,
            &mut |e| {
                if let FollowEvent::Imported { number, .. } = e {
                    imported.push(*number);
                }
            },
        );
        (end, imported)
    });

    // The producer mines as transactions arrive (automine); the validator keeps up.
    let txs = [
        infer_tx(0, 0, "digits_mlp", 1.0),
        infer_tx(1, 0, "iris_logreg", 2.0),
        infer_tx(0, 1, "digits_mlp", 0.5),
    ];
    for raw in &txs {
        client::call(&url, "eth_sendRawTransaction", json!([raw])).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while block_number(&validator.url()) < 3 {
        assert!(Instant::now() < deadline, "the validator did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    for n in 1..=3u64 {
        let theirs = client::call(
            &url,
            "eth_getBlockByNumber",
            json!([format!("0x{n:x}"), false]),
        )
        .unwrap();
        let ours = client::call(
            &validator.url(),
            "eth_getBlockByNumber",
            json!([format!("0x{n:x}"), false]),
        )
        .unwrap();
        assert_eq!(theirs["hash"], ours["hash"], "block {n}");
        let w1 = client::call(&url, "prova_getInferences", json!([format!("0x{n:x}")])).unwrap();
        let w2 = client::call(
            &validator.url(),
            "prova_getInferences",
            json!([format!("0x{n:x}")]),
        )
        .unwrap();
        assert_eq!(w1, w2);
    }
    // Read-only: transactions go to the producer.
    let refused = client::call(
        &validator.url(),
        "eth_sendRawTransaction",
        json!([infer_tx(2, 0, "digits_mlp", 1.0)]),
    );
    let msg = refused.unwrap_err().to_string();
    assert!(msg.contains("read-only"), "{msg}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (end, imported) = follower.join().unwrap();
    assert!(matches!(end.unwrap(), FollowEnd::Stopped));
    assert_eq!(imported, vec![1, 2, 3]);
    rt.block_on(validator.stop());
    rt.block_on(producer.stop());
}

/// A node that serves `blocks` and `genesis` over JSON-RPC, whatever they contain.
fn lying_node(genesis: Value, blocks: Vec<Value>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let req: Value = serde_json::from_slice(&body).unwrap();
            let result = match req["method"].as_str().unwrap() {
                "prova_getGenesis" => genesis.clone(),
                "prova_getBlockWithWitness" => {
                    let n = u64::from_str_radix(
                        req["params"][0].as_str().unwrap().trim_start_matches("0x"),
                        16,
                    )
                    .unwrap();
                    blocks.get(n as usize - 1).cloned().unwrap_or(Value::Null)
                }
                _ => Value::Null,
            };
            let resp = json!({"jsonrpc": "2.0", "id": req["id"], "result": result}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{resp}",
                resp.len()
            );
        }
    });
    url
}

#[test]
fn a_node_serving_a_tampered_block_is_caught_and_nothing_from_it_on_is_imported() {
    let mut blocks: Vec<BlockWithWitness> = honest_blocks();
    // Block 3's second inference claims another output, with a consistent header.
    let mut out = blocks[2].witness[1].output.to_vec();
    let at = out.len() - 2;
    out[at] ^= 0xff;
    blocks[2].witness[1].output = out.into();
    blocks[2].header.extra_data = prova_chain::inferences_root(&blocks[2].witness)
        .0
        .to_vec()
        .into();
    reseal(&mut blocks[2]);
    // Block 4 still names the honest block 3 as its parent; it must never be imported.
    let url = lying_node(
        genesis().to_json(),
        blocks.iter().map(BlockWithWitness::to_json).collect(),
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours =
        Chain::open_with_runtime(dir.path(), fetch_genesis(&url).unwrap(), runtime()).unwrap();
    let validator = serve(&rt, ours, Mining::ReadOnly);
    let stop = AtomicBool::new(false);
    let mut imported = Vec::new();
    let end = follow(
        validator.node().chain(),
        &url,
        Duration::from_millis(10),
        &stop,
        &mut |e| {
            if let FollowEvent::Imported { number, .. } = e {
                imported.push(*number);
            }
        },
    )
    .unwrap();
    let FollowEnd::Diverged(d) = end else {
        panic!("not detected: {end:?}")
    };
    assert_eq!(d.block, 3);
    assert_eq!(d.block_hash, blocks[2].hash);
    assert!(d.to_string().contains("output differs"), "{d}");
    assert_eq!(imported, vec![1, 2]);
    assert_eq!(block_number(&validator.url()), 2);
    assert_eq!(
        client::call(
            &validator.url(),
            "eth_getBlockByNumber",
            json!(["0x3", false])
        )
        .unwrap(),
        Value::Null
    );
    rt.block_on(validator.stop());
}

#[test]
fn a_block_dated_at_the_end_of_time_is_not_imported_and_the_follower_keeps_serving() {
    // A producer dates block 1 u64::MAX: by the consensus rules a valid child of genesis.
    let producer_dir = tempfile::tempdir().unwrap();
    let producer = Chain::open_with_runtime(producer_dir.path(), genesis(), runtime()).unwrap();
    let (block, _) = producer.build_block_at(&[], u64::MAX).unwrap();
    let block = producer
        .block_with_witness(block.header.number)
        .unwrap()
        .unwrap();
    let url = lying_node(genesis().to_json(), vec![block.to_json()]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours =
        Chain::open_with_runtime(dir.path(), fetch_genesis(&url).unwrap(), runtime()).unwrap();
    let validator = serve(&rt, ours, Mining::ReadOnly);
    let stop = AtomicBool::new(false);
    let mut early = Vec::new();
    let end = follow(
        validator.node().chain(),
        &url,
        Duration::from_millis(10),
        &stop,
        &mut |e| match e {
            FollowEvent::Early { number, reason } => {
                early.push((*number, reason.clone()));
                if early.len() == 3 {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            FollowEvent::Imported { number, .. } => panic!("imported block {number}"),
            FollowEvent::Retrying(why) => panic!("{why}"),
        },
    )
    .unwrap();
    assert!(matches!(end, FollowEnd::Stopped), "{end:?}");
    assert_eq!(early[0].0, 1);
    assert!(
        early[0].1.contains("ahead of this node's clock"),
        "{}",
        early[0].1
    );
    // Not imported, and the follower serves on: blocks, and a call with inference.
    assert_eq!(block_number(&validator.url()), 0);
    let inputs = fixture_inputs("digits_mlp");
    let call = json!({"to": prova_precompile::INFER_ADDRESS,
                      "input": alloy_primitives::Bytes::from(infer_call("digits_mlp", &inputs))});
    let out = client::call(&validator.url(), "eth_call", json!([call, "latest"])).unwrap();
    assert!(out.as_str().unwrap().len() > 2, "{out}");
    rt.block_on(validator.stop());
}
