//! A file-backed blockstore (redb) plus the devnet's small records (head, tipsets, receipts).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use redb::{Database, Durability, TableDefinition};

use crate::error::DevnetError;

/// IPLD blocks: CID bytes → block bytes.
const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
/// Small records: name → DAG-CBOR bytes (`head`).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Receipts index: message CID bytes (signed and unsigned) → DAG-CBOR receipt record.
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts");
/// Tipsets: epoch → DAG-CBOR tipset record.
const TIPSETS: TableDefinition<u64, &[u8]> = TableDefinition::new("tipsets");

/// The devnet's on-disk store: one redb file holding IPLD blocks and chain records.
///
/// Cheap to clone (shared handle). Implements [`Blockstore`], so callers can load HAMTs and
/// other IPLD structures of actor state straight from it.
#[derive(Clone)]
pub struct ChainStore {
    db: Arc<Database>,
}

fn db_err(e: impl std::fmt::Display) -> DevnetError {
    DevnetError::Store(e.to_string())
}

impl ChainStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, DevnetError> {
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            txn.open_table(BLOCKS).map_err(db_err)?;
            txn.open_table(META).map_err(db_err)?;
            txn.open_table(RECEIPTS).map_err(db_err)?;
            txn.open_table(TIPSETS).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(ChainStore { db: Arc::new(db) })
    }

    /// Reads a record from the `meta` table.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DevnetError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(META).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    /// Reads a receipt record by message CID.
    pub(crate) fn receipt(&self, cid: &Cid) -> Result<Option<Vec<u8>>, DevnetError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(RECEIPTS).map_err(db_err)?;
        Ok(t.get(cid.to_bytes().as_slice())
            .map_err(db_err)?
            .map(|v| v.value().to_vec()))
    }

    /// Reads a tipset record by epoch.
    pub(crate) fn tipset(&self, epoch: u64) -> Result<Option<Vec<u8>>, DevnetError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(TIPSETS).map_err(db_err)?;
        Ok(t.get(epoch).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    /// Commits one epoch atomically and durably: its tipset, receipts and the new head.
    /// `blocks` (signed messages, the block header) are written in the same transaction.
    pub(crate) fn commit_epoch(
        &self,
        epoch: u64,
        tipset: &[u8],
        blocks: &[(Cid, Vec<u8>)],
        receipts: &[(Vec<u8>, Vec<u8>)],
        head: &[u8],
    ) -> Result<(), DevnetError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut b = txn.open_table(BLOCKS).map_err(db_err)?;
            for (k, v) in blocks {
                b.insert(k.to_bytes().as_slice(), v.as_slice())
                    .map_err(db_err)?;
            }
            let mut t = txn.open_table(TIPSETS).map_err(db_err)?;
            t.insert(epoch, tipset).map_err(db_err)?;
            let mut r = txn.open_table(RECEIPTS).map_err(db_err)?;
            for (k, v) in receipts {
                r.insert(k.as_slice(), v.as_slice()).map_err(db_err)?;
            }
            let mut m = txn.open_table(META).map_err(db_err)?;
            m.insert("head", head).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn put_blocks<'a>(
        &self,
        blocks: impl IntoIterator<Item = (Cid, &'a [u8])>,
    ) -> anyhow::Result<()> {
        let mut txn = self.db.begin_write()?;
        // Blocks are only reachable once a durable head names them, so they need no fsync of
        // their own: the next `commit_epoch` makes them durable too.
        txn.set_durability(Durability::Eventual);
        {
            let mut t = txn.open_table(BLOCKS)?;
            for (k, v) in blocks {
                t.insert(k.to_bytes().as_slice(), v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl Blockstore for ChainStore {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(BLOCKS)?;
        Ok(t.get(k.to_bytes().as_slice())?.map(|v| v.value().to_vec()))
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.put_blocks([(*k, block)])
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(BLOCKS)?;
        Ok(t.get(k.to_bytes().as_slice())?.is_some())
    }

    fn put_many_keyed<D, I>(&self, blocks: I) -> anyhow::Result<()>
    where
        Self: Sized,
        D: AsRef<[u8]>,
        I: IntoIterator<Item = (Cid, D)>,
    {
        let blocks: Vec<(Cid, D)> = blocks.into_iter().collect();
        self.put_blocks(blocks.iter().map(|(k, v)| (*k, v.as_ref())))
    }
}

/// Blocks written during one epoch, kept in memory until [`ChainStore::commit_epoch`] writes them
/// in the epoch's single transaction. Reads see staged blocks first. Clones share the stage.
#[derive(Clone)]
pub(crate) struct Staged {
    base: ChainStore,
    blocks: Arc<Mutex<HashMap<Cid, Vec<u8>>>>,
}

impl Staged {
    pub(crate) fn new(base: ChainStore) -> Self {
        Staged {
            base,
            blocks: Default::default(),
        }
    }

    /// Takes every staged block out of the stage.
    pub(crate) fn take(&self) -> Vec<(Cid, Vec<u8>)> {
        self.blocks.lock().expect("stage lock").drain().collect()
    }
}

impl Blockstore for Staged {
    fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
        if let Some(b) = self.blocks.lock().expect("stage lock").get(k) {
            return Ok(Some(b.clone()));
        }
        self.base.get(k)
    }

    fn has(&self, k: &Cid) -> anyhow::Result<bool> {
        if self.blocks.lock().expect("stage lock").contains_key(k) {
            return Ok(true);
        }
        self.base.has(k)
    }

    fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
        self.blocks
            .lock()
            .expect("stage lock")
            .insert(*k, block.to_vec());
        Ok(())
    }

    fn put_many_keyed<D, I>(&self, blocks: I) -> anyhow::Result<()>
    where
        Self: Sized,
        D: AsRef<[u8]>,
        I: IntoIterator<Item = (Cid, D)>,
    {
        let mut staged = self.blocks.lock().expect("stage lock");
        for (k, v) in blocks {
            staged.insert(k, v.as_ref().to_vec());
        }
        Ok(())
    }
}
