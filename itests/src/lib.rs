//! Helpers of the integration tests: a devnet with the judge actor installed, parties whose
//! devnet keys also sign deal messages, and [`ChainJudge`], the judge actor behind the driver's
//! [`Judge`] trait, so whole deals (honest or faulty) run against the actor through real signed
//! messages.

use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::MethodNum;
use ozkcp::driver::{Judge, Parties};
use ozkcp_core::deal::DealTerms;
use ozkcp_core::evidence::{encode_evidence, Evidence, EvidenceKind, Fault};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::SecpSigner;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_devnet::{Devnet, GenesisConfig, Key, Lookup};
use ozkcp_judge::types::{
    Deal, DealRef, DisputeParams, DisputeReturn, LockCollateralParams, LockFundsParams,
    RedeemVoucherParams,
};
use ozkcp_judge::{method, State};

/// A fresh devnet in a temporary directory, with the judge installed.
pub struct Net {
    /// Keeps the chain's directory alive.
    pub dir: tempfile::TempDir,
    /// The devnet.
    pub net: Devnet,
    /// The judge actor's ID address.
    pub judge: Address,
}

impl Net {
    /// Starts a devnet and installs the judge.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let net = Devnet::open(dir.path(), GenesisConfig::default()).expect("devnet opens");
        let judge = net
            .install_actor(ozkcp_devnet::judge_wasm(), RawBytes::default())
            .expect("judge installs")
            .id_address;
        Net { dir, net, judge }
    }

    /// Genesis account `i`'s key.
    pub fn key(&self, i: usize) -> Key {
        self.net.accounts()[i].key.clone()
    }

    /// Genesis account `i`'s actor id.
    pub fn id(&self, i: usize) -> u64 {
        self.net.accounts()[i].id
    }

    /// Sends a judge method from `from` and returns the receipt.
    pub fn call(&self, from: &Key, m: MethodNum, params: RawBytes, value: TokenAmount) -> Lookup {
        self.net
            .call(from, self.judge, m, params, value)
            .expect("message accepted")
    }

    /// Like [`Net::call`], asserting success.
    pub fn ok(&self, from: &Key, m: MethodNum, params: RawBytes, value: TokenAmount) -> Lookup {
        let r = self.call(from, m, params, value);
        assert_eq!(r.exit_code, ExitCode::OK, "method {m}: {:?}", r.error);
        r
    }

    /// The judge's state, its invariants checked, and checked against the actor's FIL balance.
    pub fn state(&self) -> State {
        let st: State = self.net.read_state(&self.judge).expect("judge state");
        st.check_invariants(self.net.store()).expect("invariants");
        assert_eq!(
            st.total,
            self.net.balance(&self.judge).expect("balance"),
            "Σ balances in state must equal the actor's FIL balance"
        );
        st
    }

    /// Deal (`client` id, `deal_id`) from state.
    pub fn deal(&self, client: u64, deal_id: u64) -> Option<Deal> {
        self.state()
            .deal(self.net.store(), client, deal_id)
            .expect("deal reads")
    }

    /// The escrow account of actor `id`: (balance, locked).
    pub fn account(&self, id: u64) -> (TokenAmount, TokenAmount) {
        let a = self
            .state()
            .account(self.net.store(), id)
            .expect("account reads");
        (a.balance, a.locked)
    }

    /// Deal parties from genesis accounts `client` and `provider`, with deadlines `reveal` and
    /// `window` epochs from now.
    pub fn parties(
        &self,
        client: usize,
        provider: usize,
        deal_id: u64,
        reveal: i64,
        window: i64,
    ) -> Parties {
        Parties {
            client: signer(&self.key(client)),
            provider: signer(&self.key(provider)),
            judge: self.judge,
            deal_id,
            key_reveal_deadline: self.net.epoch() as i64 + reveal,
            dispute_window: window,
        }
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

/// The protocol signer of a devnet key (same secret, same f1 address).
pub fn signer(key: &Key) -> SecpSigner {
    let s = SecpSigner::from_bytes(&key.secret_bytes()).expect("devnet keys are valid");
    assert_eq!(s.address(), key.address);
    s
}

/// CBOR params.
pub fn params<T: serde::Serialize>(v: &T) -> RawBytes {
    RawBytes::serialize(v).expect("params encode")
}

/// attoFIL.
pub fn atto(n: u64) -> TokenAmount {
    TokenAmount::from_atto(n)
}

/// The judge actor as the driver's [`Judge`]: every operation is a signed message on the devnet,
/// from the client's or the provider's genesis key. Receipts are kept in `log`.
pub struct ChainJudge<'a> {
    /// The devnet and judge.
    pub net: &'a Net,
    /// The client's key.
    pub client: Key,
    /// The provider's key.
    pub provider: Key,
    /// Every message sent: (method name, receipt).
    pub log: Vec<(&'static str, Lookup)>,
}

impl<'a> ChainJudge<'a> {
    /// A judge for deals between genesis accounts `client` and `provider`.
    pub fn new(net: &'a Net, client: usize, provider: usize) -> Self {
        ChainJudge {
            net,
            client: net.key(client),
            provider: net.key(provider),
            log: Vec::new(),
        }
    }

    fn send(
        &mut self,
        name: &'static str,
        provider: bool,
        m: MethodNum,
        params: RawBytes,
        value: TokenAmount,
    ) -> Result<Lookup, String> {
        let from = if provider {
            &self.provider
        } else {
            &self.client
        };
        let r = self.net.call(from, m, params, value);
        self.log.push((name, r.clone()));
        if r.exit_code.is_success() {
            Ok(r)
        } else {
            Err(format!(
                "{name} failed with exit code {}: {}",
                r.exit_code,
                r.error.clone().unwrap_or_default()
            ))
        }
    }

    /// Gas used by the logged messages named `name`.
    pub fn gas(&self, name: &str) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r.gas_used)
            .collect()
    }

    fn client_id(&self) -> u64 {
        self.net
            .net
            .actor(&self.client.address)
            .ok()
            .flatten()
            .map(|a| a.id)
            .expect("client exists")
    }

    /// The deal as the judge keeps it.
    pub fn deal(&self, deal_id: u64) -> Option<Deal> {
        self.net.deal(self.client_id(), deal_id)
    }

    /// Lets the dispute window of `deal_id` pass and settles it (the provider's pay becomes
    /// free). A node does this once a completed deal's window has closed.
    pub fn settle_deal(&mut self, deal_id: u64) -> Result<Lookup, String> {
        let deal = self.deal(deal_id).ok_or("no such deal")?;
        let now = self.net.net.epoch() as i64;
        if now <= deal.dispute_deadline {
            self.net
                .net
                .advance((deal.dispute_deadline + 1 - now) as u64)
                .map_err(|e| e.to_string())?;
        }
        let client = self.client.address;
        self.send(
            "Settle",
            true,
            method::SETTLE,
            params(&DealRef { client, deal_id }),
            atto(0),
        )
    }
}

impl Judge for ChainJudge<'_> {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        let p = &terms.proposal;
        self.send(
            "AddBalance",
            false,
            method::ADD_BALANCE,
            RawBytes::default(),
            amount.clone(),
        )?;
        self.send(
            "LockFunds",
            false,
            method::LOCK_FUNDS,
            params(&LockFundsParams {
                terms: terms.clone(),
                amount: amount.clone(),
            }),
            atto(0),
        )?;
        if p.collateral.is_positive() {
            self.send(
                "AddBalance",
                true,
                method::ADD_BALANCE,
                RawBytes::default(),
                p.collateral.clone(),
            )?;
        }
        let digest = terms.digest().map_err(|e| e.to_string())?;
        self.send(
            "LockCollateral",
            true,
            method::LOCK_COLLATERAL,
            params(&LockCollateralParams {
                client: p.client,
                deal_id: p.deal_id,
                terms: digest,
            }),
            atto(0),
        )?;
        Ok(())
    }

    fn funds(&self) -> Option<TokenAmount> {
        // The provider reads the deal from chain state, as a node would through StateReadState.
        let st = self.net.state();
        let deals = st.all_deals(self.net.net.store()).ok()?;
        let provider = self.net.net.actor(&self.provider.address).ok()??.id;
        deals
            .iter()
            .filter(|d| d.provider == provider && d.status.is_live())
            .map(|d| &d.paid + &d.locked)
            .max()
    }

    fn redeem(
        &mut self,
        terms: &DealTerms,
        _j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        self.send(
            "RedeemVoucher",
            true,
            method::REDEEM_VOUCHER,
            params(&RedeemVoucherParams {
                client: terms.proposal.client,
                deal_id: terms.proposal.deal_id,
                voucher: v.clone(),
                key: ozkcp_core::bytes::Bytes32(*key.expose()),
            }),
            atto(0),
        )
        .map(drop)
    }

    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        let bytes = encode_evidence(evidence).map_err(|e| e.to_string())?;
        let name = dispute_name(evidence.kind());
        let r = self.send(
            name,
            false,
            method::DISPUTE,
            params(&DisputeParams {
                client: terms.proposal.client,
                deal_id: terms.proposal.deal_id,
                terms: terms.clone(),
                evidence: bytes,
            }),
            atto(0),
        )?;
        let ret: DisputeReturn = r.return_data.deserialize().map_err(|e| e.to_string())?;
        EvidenceKind::from_u8(ret.kind)
            .and_then(|k| Fault::from_parts(k, ret.interval, ret.chunk))
            .ok_or_else(|| format!("the judge returned an unknown fault {ret:?}"))
    }

    fn settle(&mut self, terms: &DealTerms) {
        let p = &terms.proposal;
        let deadline = (p.key_reveal_deadline + p.dispute_window) as u64;
        let now = self.net.net.epoch();
        if now <= deadline {
            self.net
                .net
                .advance(deadline + 1 - now)
                .expect("epochs pass");
        }
        let _ = self.send(
            "Settle",
            false,
            method::SETTLE,
            params(&DealRef {
                client: p.client,
                deal_id: p.deal_id,
            }),
            atto(0),
        );
    }
}

/// The log name of a dispute of `kind`.
pub fn dispute_name(kind: EvidenceKind) -> &'static str {
    match kind {
        EvidenceKind::WrongKey => "Dispute (wrong key)",
        EvidenceKind::InvalidProof => "Dispute (invalid Groth16 proof)",
        EvidenceKind::BadChunk => "Dispute (bad chunk)",
        EvidenceKind::BrokenChain => "Dispute (broken chain)",
        EvidenceKind::BadChainStart => "Dispute (bad chain start)",
        EvidenceKind::WrongFinalDigest => "Dispute (wrong final digest)",
        EvidenceKind::BadLayout => "Dispute (bad layout)",
    }
}

/// How a fixture's payload is laid out.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Payload bytes.
    pub len: u32,
    /// Leaf block size.
    pub block: usize,
    /// Leaf blocks per payment interval.
    pub per_interval: u32,
    /// Chunk size `S`.
    pub chunk: u32,
}

/// An active deal on chain built by hand (no state machines), for tests that send the judge
/// exactly the message they want: the terms, the provider's key chain, every interval encrypted
/// and committed, and helpers for vouchers, keys and evidence.
pub struct Fixture<'a> {
    /// The devnet.
    pub net: &'a Net,
    /// The terms the deal was opened with.
    pub terms: DealTerms,
    /// The provider's key chain.
    pub keys: ozkcp_core::keys::KeyChain,
    /// The client's signer.
    pub client: SecpSigner,
    /// The provider's side.
    pub provider: ozkcp::provider::ProviderDeal,
    /// Every interval, encrypted and committed by the provider.
    pub bundles: Vec<ozkcp::IntervalBundle>,
    /// What the client locked.
    pub amount: TokenAmount,
}

impl<'a> Fixture<'a> {
    /// Opens deal `deal_id` between genesis accounts 0 (client) and 1 (provider) over a small
    /// payload (fraud mode, S = 64, 256 B blocks, 2 blocks per interval), with keys to be
    /// revealed within `reveal` epochs and `window` epochs to dispute; the provider has locked
    /// `collateral`.
    pub fn open(net: &'a Net, deal_id: u64, reveal: i64, window: i64, collateral: u64) -> Self {
        let f = Self::unopened(net, deal_id, reveal, window, collateral);
        f.open_on_chain();
        f
    }

    /// Opens this deal on chain: the client deposits and locks the price, the provider deposits
    /// and locks the collateral.
    pub fn open_on_chain(&self) {
        let net = self.net;
        let (client, provider) = (
            self.party(&self.terms.proposal.client),
            self.party(&self.terms.proposal.provider),
        );
        net.ok(
            &client,
            method::ADD_BALANCE,
            RawBytes::default(),
            self.amount.clone(),
        );
        net.ok(
            &client,
            method::LOCK_FUNDS,
            params(&LockFundsParams {
                terms: self.terms.clone(),
                amount: self.amount.clone(),
            }),
            atto(0),
        );
        let collateral = self.terms.proposal.collateral.clone();
        if collateral.is_positive() {
            net.ok(
                &provider,
                method::ADD_BALANCE,
                RawBytes::default(),
                collateral,
            );
        }
        net.ok(
            &provider,
            method::LOCK_COLLATERAL,
            params(&LockCollateralParams {
                client: self.terms.proposal.client,
                deal_id: self.terms.proposal.deal_id,
                terms: self.terms.digest().expect("terms digest"),
            }),
            atto(0),
        );
    }

    /// The genesis key behind `addr`.
    fn party(&self, addr: &Address) -> Key {
        self.net
            .net
            .accounts()
            .into_iter()
            .find(|a| a.key.address == *addr)
            .map(|a| a.key)
            .expect("a genesis account")
    }

    /// The same deal, not yet opened on chain.
    pub fn unopened(net: &'a Net, deal_id: u64, reveal: i64, window: i64, collateral: u64) -> Self {
        Self::between(net, 0, 1, deal_id, reveal, window, collateral)
    }

    /// Like [`Fixture::unopened`], between genesis accounts `client` and `provider`.
    pub fn between(
        net: &'a Net,
        client: usize,
        provider: usize,
        deal_id: u64,
        reveal: i64,
        window: i64,
        collateral: u64,
    ) -> Self {
        let shape = Shape {
            len: 1500,
            block: 256,
            per_interval: 2,
            chunk: 64,
        };
        let parties = (client, provider);
        Self::build(
            net,
            parties,
            deal_id,
            (reveal, window),
            collateral,
            shape,
            None,
        )
    }

    /// A fraud-mode deal between accounts 0 and 1 laid out as `shape`; not yet opened on chain.
    pub fn shaped(net: &'a Net, deal_id: u64, shape: Shape) -> Self {
        Self::build(net, (0, 1), deal_id, (200, 50), 1_000, shape, None)
    }

    /// A zk-mode deal between accounts 0 and 1 (S = 64, 128 B blocks, one block per interval),
    /// every chunk proven with `zk`'s circuit; not yet opened on chain.
    pub fn zk(net: &'a Net, deal_id: u64, zk: &ozkcp::zk::ZkKeys) -> Self {
        let shape = Shape {
            len: 200,
            block: 128,
            per_interval: 1,
            chunk: 64,
        };
        Self::build(net, (0, 1), deal_id, (200, 50), 1_000, shape, Some(zk))
    }

    fn build(
        net: &'a Net,
        (client, provider): (usize, usize),
        deal_id: u64,
        (reveal, window): (i64, i64),
        collateral: u64,
        shape: Shape,
        zk: Option<&ozkcp::zk::ZkKeys>,
    ) -> Self {
        use ozkcp_core::deal::{DealProposal, Manifest, ProofMode};
        let Shape {
            len,
            block,
            per_interval,
            chunk,
        } = shape;
        let data: Vec<u8> = (0..len).map(|i| (i * 29 + 3) as u8).collect();
        let payload = ozkcp::payload::Payload::from_bytes(&data, block).expect("payload");
        let parties = net.parties(client, provider, deal_id, reveal, window);
        let blocks = payload.refs();
        let mut ends = vec![1u32];
        while *ends.last().expect("non-empty") < blocks.len() as u32 {
            let next = (ends.last().expect("non-empty") + per_interval).min(blocks.len() as u32);
            ends.push(next);
        }
        let terms = DealTerms {
            proposal: DealProposal {
                deal_id,
                client: parties.client.address(),
                provider: parties.provider.address(),
                payload_root: payload.root,
                chunk_size: chunk,
                price_per_chunk: atto(10),
                mode: if zk.is_some() {
                    ProofMode::Zk
                } else {
                    ProofMode::Fraud
                },
                circuit_id: zk.map(|k| k.verifier.circuit_id()),
                judge: net.judge,
                lane: deal_id,
                collateral: atto(collateral),
                key_reveal_deadline: parties.key_reveal_deadline,
                dispute_window: parties.dispute_window,
            },
            manifest: Manifest {
                blocks,
                interval_ends: ends,
            },
        };
        let layout = terms.layout().expect("valid terms");
        let keys = ozkcp_core::keys::KeyChain::random(layout.intervals.len());
        let provider =
            ozkcp::provider::ProviderDeal::with_keys(terms.clone(), parties.provider, keys.clone())
                .expect("provider deal");
        let provider = match zk {
            Some(k) => provider.with_prover(k.prover.clone()),
            None => provider,
        };
        let bundles = layout
            .intervals
            .iter()
            .enumerate()
            .map(|(j, place)| {
                let bs: Vec<&[u8]> = payload.blocks
                    [place.first_block as usize..place.end_block as usize]
                    .iter()
                    .map(|(_, b)| b.as_slice())
                    .collect();
                provider.encrypt_interval(j as u32, &bs).expect("encrypts")
            })
            .collect();
        let amount = layout
            .intervals
            .last()
            .map(|i| i.owed.clone())
            .unwrap_or_default();
        Fixture {
            net,
            terms,
            keys,
            client: parties.client,
            provider,
            bundles,
            amount,
        }
    }

    /// Interval `j`'s key as the redeem params carry it.
    pub fn key(&self, j: u32) -> ozkcp_core::bytes::Bytes32 {
        ozkcp_core::bytes::Bytes32(*self.keys.key(j as usize).expect("key").expose())
    }

    /// What is owed once interval `j` is paid.
    pub fn owed(&self, j: u32) -> TokenAmount {
        self.terms.layout().expect("layout").intervals[j as usize]
            .owed
            .clone()
    }

    /// The client-signed voucher paying up to interval `j` (nonce `j + 1`).
    pub fn voucher(&self, j: u32) -> SignedVoucher {
        let p = &self.terms.proposal;
        let mut v = SignedVoucher::new(
            p.judge,
            p.lane,
            u64::from(j) + 1,
            self.owed(j),
            &self.keys.lock(j as usize).expect("lock"),
        );
        v.sign(&self.client).expect("signs");
        v
    }

    /// `RedeemVoucher` params.
    pub fn redeem(&self, v: &SignedVoucher, key: ozkcp_core::bytes::Bytes32) -> RawBytes {
        params(&RedeemVoucherParams {
            client: self.terms.proposal.client,
            deal_id: self.terms.proposal.deal_id,
            voucher: v.clone(),
            key,
        })
    }

    /// `Dispute` params for encoded evidence.
    pub fn dispute(&self, evidence: Vec<u8>) -> RawBytes {
        params(&DisputeParams {
            client: self.terms.proposal.client,
            deal_id: self.terms.proposal.deal_id,
            terms: self.terms.clone(),
            evidence,
        })
    }

    /// Wrong-key evidence for interval `j`: its signed commitment and a reveal of `key` signed
    /// by `signer` (the provider's key unless testing forgeries).
    pub fn wrong_key_evidence(&self, j: u32, key: [u8; 32], signer: &SecpSigner) -> Vec<u8> {
        let reveal = ozkcp_core::evidence::KeyReveal {
            deal_id: self.terms.proposal.deal_id,
            terms: self.terms.digest().expect("digest"),
            interval: j,
            key: IntervalKey::from_bytes(key),
        }
        .sign(signer)
        .expect("signs");
        encode_evidence(&Evidence::wrong_key(
            self.bundles[j as usize].commitment.clone(),
            reveal,
        ))
        .expect("encodes")
    }

    /// Chunk `pos` of interval `j` with its path to the interval's signed root.
    pub fn signed_statement(&self, j: usize, pos: usize) -> ozkcp_core::evidence::SignedStatement {
        let b = &self.bundles[j];
        let leaves: Vec<_> = b
            .chunks
            .iter()
            .map(|c| c.statement.leaf().expect("leaf"))
            .collect();
        let tree = ozkcp_core::merkle::MerkleTree::new(leaves);
        ozkcp_core::evidence::SignedStatement::from_tree(
            b.chunks[pos].statement.clone(),
            &tree,
            b.commitment.clone(),
        )
        .expect("under the root")
    }

    /// Re-signs interval `j`'s root after its chunks were changed (as a cheating provider does).
    pub fn recommit(&mut self, j: usize) {
        self.bundles[j].commitment = self
            .provider
            .commit(j as u32, &self.bundles[j].chunks)
            .expect("commits");
    }

    /// `Settle` / `GetDeal` params.
    pub fn deal_ref(&self) -> RawBytes {
        params(&DealRef {
            client: self.terms.proposal.client,
            deal_id: self.terms.proposal.deal_id,
        })
    }
}
