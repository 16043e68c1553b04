//! The JSON-RPC API over a real loopback socket, with the typed client (HTTP and WebSocket)
//! and with raw JSON as a Lotus client would send it.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::message::Message;
use fvm_shared::METHOD_SEND;
use jsonrpsee::ws_client::WsClientBuilder;
use ozkcp_devnet::json::*;
use ozkcp_devnet::rpc::{DevnetApiClient, FilecoinApiClient};
use ozkcp_devnet::{serve, Key, SignedMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> (
    tempfile::TempDir,
    Arc<ozkcp_devnet::Devnet>,
    ozkcp_devnet::RpcServer,
) {
    let (dir, net) = devnet();
    let net = Arc::new(net);
    let srv = serve(net.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (dir, net, srv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lotus_subset_over_http() {
    let (_dir, _net, srv) = start().await;
    let c = ozkcp_devnet::rpc::connect_http(&srv.http_url()).unwrap();

    let head = c.chain_head().await.unwrap();
    assert_eq!(head.height, 0);
    let accounts = c.accounts().await.unwrap();
    assert_eq!(accounts.len(), 4);
    assert!(accounts[0].address.starts_with("t1"));
    assert!(accounts[0].id_address.starts_with("t0"));
    let a = Key::from_bytes(&B64.decode(&accounts[0].private_key).unwrap()).unwrap();
    assert_eq!(addr_str(&a.address), accounts[0].address);
    let b = &accounts[1].address;
    let bal = c.wallet_balance(b.clone()).await.unwrap();
    assert_eq!(bal, fil(1_000_000).atto().to_string());
    // Unknown addresses have balance 0, as in Lotus; `f` prefixes are accepted.
    let stranger = addr_str(&Key::random().address);
    assert_eq!(c.wallet_balance(stranger.clone()).await.unwrap(), "0");
    assert_eq!(
        c.wallet_balance(b.replacen('t', "f", 1)).await.unwrap(),
        bal
    );

    // Push a signed transfer as a Lotus client would, then wait for it.
    let nonce = c
        .mpool_get_nonce(accounts[0].address.clone())
        .await
        .unwrap();
    let msg = fvm_shared::message::Message {
        version: 0,
        from: a.address,
        to: parse_addr(b).unwrap(),
        sequence: nonce,
        value: fil(2),
        method_num: METHOD_SEND,
        params: RawBytes::default(),
        gas_limit: 10_000_000,
        gas_fee_cap: atto(0),
        gas_premium: atto(0),
    };
    let sm = a.sign_message(msg);
    let cid = c.mpool_push(SignedMessageJson::from(&sm)).await.unwrap();
    assert_eq!(cid, CidJson::from(&sm.cid()));
    let l = c
        .state_wait_msg(cid.clone(), Some(1), None, None)
        .await
        .unwrap();
    assert_eq!(l.message, cid);
    assert_eq!(l.receipt.exit_code, 0);
    assert_eq!(l.height, 1);
    assert!(l.receipt.gas_used > 0);
    let head = c.chain_head().await.unwrap();
    assert_eq!(head.height, 1);
    assert_eq!(head.cids, l.tip_set);
    assert_eq!(head.blocks[0].messages, vec![cid.clone()]);
    let found = c
        .state_search_msg(None, cid.clone(), None, None)
        .await
        .unwrap();
    assert_eq!(found, Some(l));
    assert_eq!(
        c.mpool_get_nonce(accounts[0].address.clone())
            .await
            .unwrap(),
        1
    );
    let actor = c.state_get_actor(b.clone(), None).await.unwrap();
    assert_eq!(actor.balance, fil(1_000_002).atto().to_string());
    // Gas estimation, and StateCall of a transfer that is then not kept.
    let est = c
        .gas_estimate_message_gas(MessageJson::from(&sm.message), None, None)
        .await
        .unwrap();
    assert!(est.gas_limit > 0 && est.gas_limit < 10_000_000);
    assert_eq!(
        (est.gas_fee_cap.as_str(), est.gas_premium.as_str()),
        ("0", "0")
    );
    let call = c
        .state_call(MessageJson::from(&sm.message), None)
        .await
        .unwrap();
    assert_eq!(call.msg_rct.exit_code, 0);
    assert_eq!(call.msg.nonce, 1);
    assert_eq!(
        c.mpool_get_nonce(accounts[0].address.clone())
            .await
            .unwrap(),
        1
    );
    assert!(c
        .version()
        .await
        .unwrap()
        .version
        .starts_with("ozkcp-devnet/"));
    assert_eq!(c.state_network_version(None).await.unwrap(), 21);
    assert_eq!(
        c.state_lookup_id(accounts[0].address.clone(), None)
            .await
            .unwrap(),
        accounts[0].id_address
    );
    let got = c.chain_get_message(cid.clone()).await.unwrap();
    assert_eq!(Message::try_from(&got).unwrap(), sm.message);
    let ts0 = c.chain_get_tipset_by_height(0, None).await.unwrap();
    assert_eq!(head.blocks[0].parents, ts0.cids);

    // A bad signature and a wrong nonce come back as method errors (code 1).
    let mut bad = a.sign_message(sm.message.clone());
    bad.message.sequence = 1;
    let e = c
        .mpool_push(SignedMessageJson::from(&bad))
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("invalid signature"), "{e}");
    let e = c
        .mpool_push(SignedMessageJson::from(&sm))
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("wrong nonce"), "{e}");
    // A message never pushed is not found.
    let other = a.sign_message(fvm_shared::message::Message {
        sequence: 99,
        ..sm.message.clone()
    });
    let none = c
        .state_search_msg(None, CidJson::from(&other.cid()), None, None)
        .await
        .unwrap();
    assert_eq!(none, None);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_over_websocket() {
    let (_dir, net, srv) = start().await;
    let c = WsClientBuilder::default()
        .build(srv.ws_url())
        .await
        .unwrap();
    let wasm = B64.encode(ozkcp_devnet::judge_wasm());
    let judge = c.install_actor(wasm, None).await.unwrap();
    assert!(judge.id_address.starts_with("t0"));
    assert!(judge.robust_address.starts_with("t2"));
    let client = &net.accounts()[0].key;
    let judge_addr = parse_addr(&judge.id_address).unwrap();
    let msg = net
        .message(
            client,
            judge_addr,
            ozkcp_judge::method::ADD_BALANCE,
            RawBytes::default(),
            fil(4),
        )
        .unwrap();
    let cid = c
        .mpool_push(SignedMessageJson::from(&client.sign_message(msg)))
        .await
        .unwrap();
    let l = c.state_wait_msg(cid, None, None, None).await.unwrap();
    assert_eq!(l.receipt.exit_code, 0);
    let ret: ozkcp_judge::types::Account =
        fvm_ipld_encoding::from_slice(&l.return_bytes().unwrap()).unwrap();
    assert_eq!(ret.balance, fil(4));

    // StateReadState: DAG-JSON of [accounts, deals, circuits, total] plus the raw CBOR.
    let st = c
        .state_read_state(judge.robust_address.clone(), None)
        .await
        .unwrap();
    assert_eq!(st.balance, fil(4).atto().to_string());
    assert_eq!(st.code, judge.code);
    let fields = st.state.as_array().unwrap();
    assert_eq!(fields.len(), 4);
    assert!(fields[0]["/"].is_string());
    let typed: ozkcp_judge::State =
        fvm_ipld_encoding::from_slice(&B64.decode(&st.raw_state).unwrap()).unwrap();
    assert_eq!(typed.total, fil(4));
    // The HAMT root is readable through ChainReadObj.
    let obj = c
        .chain_read_obj(CidJson::from(&typed.accounts))
        .await
        .unwrap();
    assert!(!B64.decode(obj).unwrap().is_empty());

    // StateWaitMsg on a message that executes later returns once it has.
    let msg = net
        .message(
            client,
            judge_addr,
            ozkcp_judge::method::ADD_BALANCE,
            RawBytes::default(),
            fil(1),
        )
        .unwrap();
    let sm: SignedMessage = client.sign_message(msg);
    let waiter = {
        let c = WsClientBuilder::default()
            .build(srv.ws_url())
            .await
            .unwrap();
        let cid = CidJson::from(&sm.cid());
        tokio::spawn(async move { c.state_wait_msg(cid, None, None, None).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let net2 = net.clone();
    tokio::task::spawn_blocking(move || net2.push(sm))
        .await
        .unwrap()
        .unwrap();
    let l = waiter.await.unwrap().unwrap();
    assert_eq!(l.receipt.exit_code, 0);
    assert_eq!(judge_sum(&net, &judge_addr), fil(5));
    // The judge's getter through StateCall: no message is kept.
    let get = net
        .message(
            client,
            judge_addr,
            ozkcp_judge::method::GET_ACCOUNT,
            params(&ozkcp_judge::types::GetAccountParams {
                owner: client.address,
            }),
            fil(0),
        )
        .unwrap();
    let epoch = net.epoch();
    let r = c.state_call(MessageJson::from(&get), None).await.unwrap();
    assert_eq!(r.msg_rct.exit_code, 0, "{}", r.error);
    let acct: ozkcp_judge::types::Account =
        fvm_ipld_encoding::from_slice(&r.return_bytes().unwrap()).unwrap();
    assert_eq!((acct.balance, acct.locked), (fil(5), fil(0)));
    assert_eq!(net.epoch(), epoch);
    srv.stop().await;
}

async fn raw_http(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_lotus_json() {
    let (_dir, net, srv) = start().await;
    let acc = net.accounts();
    let (a, b) = (&acc[0].key, &acc[1].key);
    // The exact JSON a Lotus client sends for MpoolPush.
    let msg = net
        .message(a, b.address, METHOD_SEND, RawBytes::default(), atto(5))
        .unwrap();
    let sm = a.sign_message(msg);
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "Filecoin.MpoolPush",
        "params": [{
            "Message": {
                "Version": 0, "To": addr_str(&b.address), "From": addr_str(&a.address),
                "Nonce": 0, "Value": "5", "GasLimit": 1_000_000_000u64, "GasFeeCap": "0",
                "GasPremium": "0", "Method": 0, "Params": null
            },
            "Signature": {"Type": 1, "Data": B64.encode(sm.signature.bytes())}
        }]
    });
    let resp = raw_http(srv.local_addr, "/rpc/v1", &body.to_string()).await;
    let json: serde_json::Value =
        serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["result"]["/"], sm.cid().to_string(), "{resp}");
    assert_eq!(net.balance(&b.address).unwrap(), fil(1_000_000) + atto(5));
    // StateWaitMsg answers Lotus's MsgLookup shape.
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 3, "method": "Filecoin.StateWaitMsg",
        "params": [{"/": sm.cid().to_string()}, 1, -1, true]
    });
    let resp = raw_http(srv.local_addr, "/rpc/v1", &body.to_string()).await;
    let json: serde_json::Value =
        serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let r = &json["result"];
    assert_eq!(r["Message"]["/"], sm.cid().to_string(), "{resp}");
    assert_eq!(r["Receipt"]["ExitCode"], 0);
    assert!(r["Receipt"]["Return"].is_null());
    assert!(r["Receipt"]["GasUsed"].as_u64().unwrap() > 0);
    assert_eq!(r["Height"], 1);
    assert!(r["TipSet"][0]["/"].is_string());
    // WalletBalance is a decimal attoFIL string.
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 4, "method": "Filecoin.WalletBalance",
        "params": [addr_str(&b.address)]
    });
    let resp = raw_http(srv.local_addr, "/rpc/v1", &body.to_string()).await;
    assert!(resp.contains("\"1000000000000000000000005\""), "{resp}");
    // Unknown method: -32601; other paths: 404.
    let resp = raw_http(
        srv.local_addr,
        "/rpc/v1",
        r#"{"jsonrpc":"2.0","id":2,"method":"Filecoin.Nope","params":[]}"#,
    )
    .await;
    assert!(resp.contains("-32601"), "{resp}");
    let resp = raw_http(srv.local_addr, "/other", "{}").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    srv.stop().await;
}
