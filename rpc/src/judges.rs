//! The sidecar's judges on a chain: each deal's chain operations are messages signed with the
//! sidecar's own wallet key and sent to the judge actor through a Lotus-style node
//! ([`JudgeClient`]): a devnet (`ozkcp devnet run`) or a Lotus node.
//!
//! One sidecar holds one key, so each side does its own part:
//!
//! | step | client sidecar | provider sidecar |
//! |---|---|---|
//! | the terms are signed | `AddBalance` (only what its free escrow lacks), `LockFunds` | — |
//! | `StartTransfer` arrives | — | `AddBalance` (shortfall), `LockCollateral` |
//! | each voucher | — | reads the deal's funds from chain state |
//! | the last voucher is accepted | — | `RedeemVoucher` (the key goes public) |
//! | a fault is found | `Dispute` | — |
//! | deadlines pass | `Settle` (a failed deal: unspent funds back) | `Settle` (a paid deal: pay and collateral free) |
//!
//! Deadlines are chain epochs. Nothing here advances a devnet: its epochs pass with the
//! messages pushed to it and with `ozkcp devnet advance`; the judges poll the head.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ozkcp::core::deal::{DealProposal, DealTerms};
use ozkcp::core::evidence::{Evidence, Fault};
use ozkcp::core::keys::IntervalKey;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::voucher::SignedVoucher;
use ozkcp::core::{Address, ChainEpoch, TokenAmount};
use ozkcp::node::Judge;
use ozkcp_judge::types::Deal;

use crate::chain::{block_on, fault_of, ChainError, JudgeClient};
use crate::deals::{ChainCoordinates, JudgeFactory};
use crate::store::Side;

/// Deadlines of the deals a client sidecar proposes, in epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Epochs from the proposal until keys must be revealed on chain.
    pub reveal: ChainEpoch,
    /// Epochs after that during which the client may dispute.
    pub dispute: ChainEpoch,
}

impl Default for Deadlines {
    /// A day (2,880 epochs of 30 s) each.
    fn default() -> Self {
        Deadlines {
            reveal: 2880,
            dispute: 2880,
        }
    }
}

/// Chain-backed judges for one sidecar (see the module docs).
#[derive(Clone)]
pub struct ChainJudges {
    judge: JudgeClient,
    rt: tokio::runtime::Handle,
    key: SecpSigner,
    deadlines: Deadlines,
    poll: Duration,
    /// Held from reading the escrow account to locking: two deals never plan with the same
    /// free funds.
    escrow: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ChainJudges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ChainJudges")
            .field("judge", &self.judge.address().to_string())
            .field("node", &self.judge.node().url())
            .field("deadlines", &self.deadlines)
            .field("poll", &self.poll)
            .finish()
    }
}

impl ChainJudges {
    /// Judges through `judge`, signing with `key`, their calls run on `rt` (a multi-threaded
    /// runtime: the judge trait is synchronous and blocks on it); the head is polled every
    /// `poll` while a deadline is awaited.
    pub fn new(
        judge: JudgeClient,
        rt: tokio::runtime::Handle,
        key: SecpSigner,
        deadlines: Deadlines,
        poll: Duration,
    ) -> Self {
        ChainJudges {
            judge,
            rt,
            key,
            deadlines,
            poll,
            escrow: Arc::default(),
        }
    }

    /// The judge client.
    pub fn client(&self) -> &JudgeClient {
        &self.judge
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        block_on(&self.rt, f)
    }

    fn deal_judge(&self, side: Side, p: &DealProposal) -> DealJudge {
        DealJudge {
            side,
            judges: self.clone(),
            client: p.client,
            deal_id: p.deal_id,
        }
    }

    /// Settles deal (`client`, `deal_id`) from our key once its dispute window has closed,
    /// in the background: a provider's pay and collateral become free only then. Ends early if
    /// the deal is settled or slashed by someone else.
    ///
    /// A failure (node unreachable, message refused) is retried with a growing pause (at most
    /// five minutes) for as long as the sidecar runs, so a node that is down for a while does
    /// not leave the funds locked.
    pub fn settle_in_background(&self, client: Address, deal_id: u64) {
        let me = self.clone();
        self.rt.spawn(async move {
            let mut pause = me.poll.max(Duration::from_millis(100));
            for attempt in 1u32.. {
                match me.settle_when_due(client, deal_id).await {
                    Ok(Some(r)) => {
                        return tracing::info!(
                            deal_id,
                            "settled on chain: {} attoFIL to the provider, {} back to the client",
                            r.to_provider.atto(),
                            r.to_client.atto()
                        )
                    }
                    Ok(None) => {
                        return tracing::debug!(
                            deal_id,
                            "nothing to settle (closed, or never opened)"
                        )
                    }
                    Err(e) => tracing::warn!(deal_id, attempt, "settling: {e}"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(300));
            }
        });
    }

    /// Waits until the deal's dispute window has closed and settles it; `None` if it was
    /// closed already or never opened.
    async fn settle_when_due(
        &self,
        client: Address,
        deal_id: u64,
    ) -> Result<Option<ozkcp_judge::types::SettleReturn>, ChainError> {
        loop {
            let Some(deal) = self.judge.deal(client, deal_id).await? else {
                // Never opened on chain (it ended before the client locked funds).
                return Ok(None);
            };
            if !deal.status.is_live() {
                return Ok(None);
            }
            if self.judge.node().epoch().await? > deal.dispute_deadline {
                return match self.judge.settle(&self.key, client, deal_id).await {
                    Ok(s) => Ok(Some(s.value)),
                    // Someone settled it between our read and our message.
                    Err(ChainError::Exit { .. })
                        if !self.live(client, deal_id).await.unwrap_or(true) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                };
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn live(&self, client: Address, deal_id: u64) -> Result<bool, ChainError> {
        Ok(self
            .judge
            .deal(client, deal_id)
            .await?
            .is_some_and(|d| d.status.is_live()))
    }

    /// Makes `amount` of our escrow free: deposits what the free balance lacks. Call with
    /// the escrow lock held.
    async fn ensure_free(&self, amount: &TokenAmount) -> Result<(), ChainError> {
        if !amount.is_positive() {
            return Ok(());
        }
        let me = self.key.address();
        let free = self.judge.account(me).await?.free();
        if &free < amount {
            self.judge.add_balance(&self.key, amount - &free).await?;
        }
        Ok(())
    }
}

impl JudgeFactory for ChainJudges {
    fn coordinates(&self) -> Result<ChainCoordinates, String> {
        let now = self
            .block_on(self.judge.node().epoch())
            .map_err(|e| e.to_string())?;
        Ok(ChainCoordinates {
            judge: self.judge.address(),
            key_reveal_deadline: now + self.deadlines.reveal,
            dispute_window: self.deadlines.dispute,
        })
    }

    fn judge(&self, side: Side, proposal: &DealProposal) -> Result<Box<dyn Judge + Send>, String> {
        if proposal.judge != self.judge.address() {
            return Err(format!(
                "the deal names judge {}, this sidecar uses {}",
                proposal.judge,
                self.judge.address()
            ));
        }
        Ok(Box::new(self.deal_judge(side, proposal)))
    }

    fn settle_later(&self, client: Address, deal_id: u64) {
        self.settle_in_background(client, deal_id);
    }
}

/// One deal's judge for one side (see [`ChainJudges`]).
pub struct DealJudge {
    side: Side,
    judges: ChainJudges,
    client: Address,
    deal_id: u64,
}

impl DealJudge {
    fn on_chain(&self) -> Result<Option<Deal>, ChainError> {
        self.judges
            .block_on(self.judges.judge.deal(self.client, self.deal_id))
    }

    fn only(&self, side: Side, what: &str) -> Result<(), String> {
        if self.side == side {
            Ok(())
        } else {
            Err(format!("{what} is the {side} sidecar's step"))
        }
    }
}

fn err(what: &str, e: ChainError) -> String {
    let msg = format!("{what}: {e}");
    tracing::warn!("{msg}");
    msg
}

impl Judge for DealJudge {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        self.only(Side::Client, "locking the deal's funds")?;
        let j = &self.judges;
        j.block_on(async {
            let _escrow = j.escrow.lock().await;
            j.ensure_free(amount).await?;
            j.judge.lock_funds(&j.key, terms, amount.clone()).await
        })
        .map(drop)
        .map_err(|e| err("LockFunds", e))
    }

    fn accept(&mut self, terms: &DealTerms) -> Result<(), String> {
        self.only(Side::Provider, "locking collateral")?;
        let j = &self.judges;
        let p = &terms.proposal;
        let digest = terms.digest().map_err(|e| e.to_string())?;
        j.block_on(async {
            let _escrow = j.escrow.lock().await;
            j.ensure_free(&p.collateral).await?;
            j.judge
                .lock_collateral(&j.key, p.client, p.deal_id, digest)
                .await
        })
        .map(drop)
        .map_err(|e| err("LockCollateral", e))
    }

    fn funds(&self) -> Option<TokenAmount> {
        // What the client reserved for the deal, paid or not, while the deal is live.
        match self.on_chain() {
            Ok(Some(d)) if d.status.is_live() => Some(&d.paid + &d.locked),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(deal_id = self.deal_id, "reading the deal: {e}");
                None
            }
        }
    }

    fn redeem(
        &mut self,
        _terms: &DealTerms,
        _j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        self.only(Side::Provider, "redeeming a voucher")?;
        let j = &self.judges;
        j.block_on(
            j.judge
                .redeem_voucher(&j.key, self.client, self.deal_id, v, key),
        )
        .map(drop)
        .map_err(|e| err("RedeemVoucher", e))
    }

    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        self.only(Side::Client, "disputing")?;
        let j = &self.judges;
        let ret = j
            .block_on(j.judge.dispute(&j.key, terms, evidence))
            .map_err(|e| err("Dispute", e))?
            .value;
        fault_of(&ret)
    }

    fn settle(&mut self, _terms: &DealTerms) {
        let j = &self.judges;
        if let Err(e) = j.block_on(j.settle_when_due(self.client, self.deal_id)) {
            err("Settle", e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deadlines_are_a_day_each() {
        let d = Deadlines::default();
        assert_eq!((d.reveal, d.dispute), (2880, 2880));
    }

    #[test]
    fn a_side_refuses_the_other_sides_steps() {
        // A handle's block_on drives IO only on a multi-threaded runtime (as the sidecar's).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let node = crate::chain::LotusClient::new("http://127.0.0.1:9/rpc/v1", None).unwrap();
        let judges = ChainJudges::new(
            JudgeClient::new(node, Address::new_id(1000)),
            rt.handle().clone(),
            SecpSigner::from_bytes(&[7; 32]).unwrap(),
            Deadlines::default(),
            Duration::from_millis(10),
        );
        let mut j = DealJudge {
            side: Side::Provider,
            judges,
            client: Address::new_id(1001),
            deal_id: 1,
        };
        let v_err = j.only(Side::Client, "disputing").unwrap_err();
        assert!(v_err.contains("client sidecar"), "{v_err}");
        // Unreachable node: funds are unknown, not zero and not a panic.
        assert_eq!(j.funds(), None);
        let _ = &mut j;
    }
}
