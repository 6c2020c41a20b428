//! The one path by which a node writes report state (keyed answers, completions): a
//! bounded in-memory [`Journal`] drained by one task that retries with backoff until each
//! write lands, backed by an append-only spool file so that writes survive the node.
//!
//! [`ReportWriter::submit`] returns once the write is durable: appended to the spool and
//! fsync'd (concurrent submits share one fsync). It waits only for the disk, or for room
//! when `capacity` writes are already pending; never for the database. A node that stops
//! with writes pending leaves them in its spool; the next node started on the same spool
//! directory and database replays them (writes are idempotent, see `journal.rs`).
//!
//! # Files in the spool directory
//! `<node>.spool` is a node's spool and `<node>.lock` is held locked (flock) while that node
//! runs. At start a writer adopts every spool whose lock is free (its node is gone) and whose
//! header names the same database: its pending writes are appended to the new node's spool
//! and journal, then the old files are removed. Several nodes can share one directory.
//! `set-aside.jsonl` receives writes the database refuses for good (a constraint, a report
//! that does not exist), which are logged as errors: they are kept for staff, not retried.
//!
//! # Stopping
//! [`ReportWriter::close`] waits until the journal is empty or a deadline passes, then stops
//! the task; whatever did not land stays in the spool for the next start. Call it after the
//! last call has ended (`Engine::close_reports`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::journal::{Journal, ReportKey, ReportWrite, Seq, SpoolHeader, SpoolLine, read_spool};
use super::{Store, StoreError};

/// How the writer is set up (`[database]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Where spool files live; `None` keeps the journal in memory only (for an in-memory
    /// database, which does not outlive the process either).
    pub spool_dir: Option<PathBuf>,
    /// Writes pending at most; a submit past it waits for one to land.
    pub capacity: usize,
    /// One attempt to land a batch is abandoned (and retried) after this long.
    pub write_timeout: Duration,
    /// Names the database in spool headers, so a spool is replayed only into its database.
    pub database: String,
}

/// Spool files are compacted (rewritten with only the pending writes) past this size.
const COMPACT_BYTES: u64 = 1 << 20;
/// Writes landed per transaction at most.
const BATCH: usize = 64;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A store that keeps failing is logged at most this often.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("report spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report writer is closed")]
    Closed,
}

/// Counters for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes accepted and not yet in the database.
    pub pending: u64,
    pub landed: u64,
    /// Failed attempts to land a batch (each retried).
    pub retries: u64,
    /// Writes the database refused for good, kept in `set-aside.jsonl`.
    pub set_aside: u64,
    /// Writes replayed from spools at start.
    pub replayed: u64,
    /// Spool appends that failed (the write is then held in memory only).
    pub spool_errors: u64,
}

/// A cloneable handle on the node's report writer.
#[derive(Clone)]
pub struct ReportWriter {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Serialises spool file I/O; held across the fsync so one fsync covers many submits.
    spool: tokio::sync::Mutex<Option<Spool>>,
    /// Something was journaled, or closing began: wakes the landing task.
    work: Notify,
    /// Something landed: wakes submits waiting for room and `flush`.
    landed: Notify,
    closing: AtomicBool,
    closed: AtomicBool,
    /// Without a spool nothing is staged.
    has_spool: bool,
    capacity: usize,
    write_timeout: Duration,
    store: Store,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    landed: AtomicU64,
    retries: AtomicU64,
    set_aside: AtomicU64,
    replayed: AtomicU64,
    spool_errors: AtomicU64,
}

struct State {
    journal: Journal,
    /// Spool lines accepted but not yet written, in sequence order.
    staged: Vec<u8>,
    /// The highest sequence number whose line is in `staged` or the file.
    staged_upto: Seq,
    /// Reports with a write set aside: their completion is set aside too.
    poisoned: std::collections::HashSet<ReportKey>,
}

struct Spool {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    file: Arc<File>,
    /// Held for the life of the node; released by the OS if it dies.
    _lock: File,
    len: u64,
    header: String,
    /// Everything up to here is fsync'd.
    synced_upto: Seq,
}

impl ReportWriter {
    /// Opens this node's spool (adopting those of stopped nodes on the same database),
    /// replays their pending writes and starts landing. Returns an error only if the
    /// spool directory cannot be used.
    pub async fn start(store: Store, cfg: WriterConfig) -> Result<ReportWriter, WriterError> {
        let header = SpoolLine::Header(SpoolHeader {
            version: 1,
            database: cfg.database.clone(),
        })
        .to_line();
        let (spool, adopted) = match &cfg.spool_dir {
            Some(dir) => {
                let dir = dir.clone();
                let header = header.clone();
                let database = cfg.database.clone();
                tokio::task::spawn_blocking(move || open_spool(&dir, header, &database))
                    .await
                    .map_err(|e| WriterError::Spool {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e),
                    })??
            }
            None => (None, Vec::new()),
        };
        let capacity = cfg.capacity.max(1);
        // Replayed writes may exceed the capacity once: they are already on disk, in our
        // spool under the sequence numbers 1..=n that the journal gives them again here.
        let mut journal = Journal::new(capacity.max(adopted.len()), 1);
        for write in &adopted {
            let _ = journal.push(write.clone());
        }
        let staged_upto = journal.next_seq() - 1;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                journal,
                staged: Vec::new(),
                staged_upto,
                poisoned: Default::default(),
            }),
            spool: tokio::sync::Mutex::new(spool),
            work: Notify::new(),
            landed: Notify::new(),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            has_spool: cfg.spool_dir.is_some(),
            capacity,
            write_timeout: cfg.write_timeout,
            store,
            counters: Counters::default(),
        });
        inner
            .counters
            .replayed
            .store(adopted.len() as u64, Ordering::Relaxed);
        if !adopted.is_empty() {
            tracing::warn!(
                writes = adopted.len(),
                "replaying report writes left in the spool by a stopped node"
            );
        }
        tokio::spawn(land_loop(inner.clone()));
        inner.work.notify_one();
        Ok(ReportWriter { inner })
    }

    /// Journals a write; returns once it is durable (in the fsync'd spool) and will land
    /// in the database whatever happens to it meanwhile. Waits while the journal is full.
    pub async fn submit(&self, write: ReportWrite) -> Result<Seq, WriterError> {
        let seq = loop {
            if self.inner.closed.load(Ordering::Acquire) {
                return Err(WriterError::Closed);
            }
            let room = self.inner.landed.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut st = self.inner.lock();
                if st.journal.len() < self.inner.capacity
                    && let Ok(seq) = st.journal.push(write.clone())
                {
                    if self.inner.has_spool {
                        let line = SpoolLine::Entry {
                            seq,
                            write: write.clone(),
                        };
                        st.staged.extend_from_slice(line.to_line().as_bytes());
                    }
                    st.staged_upto = seq;
                    break seq;
                }
            }
            room.await;
        };
        self.inner.work.notify_one();
        self.inner.sync_spool(seq).await;
        Ok(seq)
    }

    /// Waits until every write accepted so far has landed, or `deadline`; returns how
    /// many are still pending.
    pub async fn flush(&self, deadline: Instant) -> usize {
        loop {
            let landed = self.inner.landed.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            let pending = self.inner.lock().journal.len();
            if pending == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, landed).await.is_err() {
                return self.inner.lock().journal.len();
            }
        }
    }

    /// Stops the writer: waits for pending writes up to `deadline`, then stops retrying.
    /// What did not land stays in the spool and is replayed by the next start; an empty
    /// spool is removed. Returns how many writes were left pending. Later submits fail.
    pub async fn close(&self, deadline: Instant) -> usize {
        self.flush(deadline).await;
        self.inner.closed.store(true, Ordering::Release);
        self.inner.closing.store(true, Ordering::Release);
        self.inner.work.notify_one();
        let mut spool = self.inner.spool.lock().await;
        let (bytes, upto, left) = {
            let mut st = self.inner.lock();
            (
                std::mem::take(&mut st.staged),
                st.staged_upto,
                st.journal.len(),
            )
        };
        if let Some(s) = spool.as_mut() {
            if let Err(e) = s.append(&bytes, true) {
                tracing::error!(error = %e, "report spool: final write failed");
            }
            s.synced_upto = upto;
            if left == 0 {
                let _ = std::fs::remove_file(&s.path);
                let _ = std::fs::remove_file(&s.lock_path);
            }
        }
        *spool = None;
        if left > 0 {
            tracing::warn!(
                writes = left,
                "report writer closed with writes pending; they stay in the spool"
            );
        }
        left
    }

    pub fn stats(&self) -> WriterStats {
        let c = &self.inner.counters;
        WriterStats {
            pending: self.inner.lock().journal.len() as u64,
            landed: c.landed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            set_aside: c.set_aside.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            spool_errors: c.spool_errors.load(Ordering::Relaxed),
        }
    }

    /// This node's spool file, if it has one.
    pub async fn spool_path(&self) -> Option<PathBuf> {
        self.inner
            .spool
            .lock()
            .await
            .as_ref()
            .map(|s| s.path.clone())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (no partial updates).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every staged line up to `seq` durable; concurrent callers share one fsync.
    async fn sync_spool(&self, seq: Seq) {
        let mut spool = self.spool.lock().await;
        let Some(s) = spool.as_mut() else {
            return;
        };
        if s.synced_upto >= seq {
            return;
        }
        let (bytes, upto) = {
            let mut st = self.lock();
            (std::mem::take(&mut st.staged), st.staged_upto)
        };
        let file = s.file.clone();
        let result = tokio::task::spawn_blocking(move || {
            (&*file).write_all(&bytes)?;
            file.sync_data()?;
            Ok::<_, std::io::Error>(bytes.len() as u64)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match result {
            Ok(n) => s.len += n,
            Err(e) => {
                // The writes are still in the journal and will land; only a crash before
                // then would lose them. Say so loudly.
                self.counters.spool_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(path = %s.path.display(), error = %e,
                    "report spool append failed; writes held in memory only");
            }
        }
        s.synced_upto = upto;
    }

    /// Records that writes up to `seq` landed: drops them from the journal and notes it
    /// in the spool (not fsync'd: a lost note only means an idempotent replay).
    async fn mark_landed(&self, seq: Seq, count: u64) {
        let pending = {
            let mut st = self.lock();
            st.journal.landed(seq);
            if self.has_spool {
                st.staged
                    .extend_from_slice(SpoolLine::Landed(seq).to_line().as_bytes());
            }
            st.journal.len()
        };
        self.counters.landed.fetch_add(count, Ordering::Relaxed);
        self.landed.notify_waiters();
        let mut spool = self.spool.lock().await;
        let Some(s) = spool.as_mut() else {
            return;
        };
        if s.len > COMPACT_BYTES && (pending as u64) * 512 < s.len / 2 {
            let (content, upto) = {
                let mut st = self.lock();
                st.staged.clear();
                let mut c = s.header.clone().into_bytes();
                for (seq, write) in st.journal.pending() {
                    let line = SpoolLine::Entry {
                        seq: *seq,
                        write: write.clone(),
                    };
                    c.extend_from_slice(line.to_line().as_bytes());
                }
                (c, st.staged_upto)
            };
            match rewrite(&s.dir, &s.path, &content) {
                Ok(file) => {
                    s.file = Arc::new(file);
                    s.len = content.len() as u64;
                    s.synced_upto = upto;
                }
                Err(e) => tracing::warn!(error = %e, "report spool compaction failed"),
            }
            return;
        }
        // Only landed notes are written here; entries wait for their submit's fsync.
        let only_notes = {
            let st = self.lock();
            st.staged_upto <= s.synced_upto
        };
        if only_notes {
            let bytes = std::mem::take(&mut self.lock().staged);
            match s.append(&bytes, false) {
                Ok(()) => {}
                Err(e) => tracing::debug!(error = %e, "report spool: landed note not written"),
            }
        }
    }

    async fn set_aside(&self, seq: Seq, write: &ReportWrite, error: &StoreError) {
        self.counters.set_aside.fetch_add(1, Ordering::Relaxed);
        self.lock().poisoned.insert(write.report().clone());
        tracing::error!(seq, patient = write.report().patient.0, error = %error,
            "the case store refuses a report write for good; kept in set-aside.jsonl for staff");
        let spool = self.spool.lock().await;
        if let Some(s) = spool.as_ref() {
            let line = SpoolLine::Entry {
                seq,
                write: write.clone(),
            }
            .to_line();
            let path = s.dir.join("set-aside.jsonl");
            let written = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| {
                    f.write_all(line.as_bytes())?;
                    f.sync_data()
                });
            if let Err(e) = written {
                tracing::error!(path = %path.display(), error = %e, "cannot keep a refused write");
            }
        }
    }
}

impl Spool {
    fn append(&mut self, bytes: &[u8], sync: bool) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        (&*self.file).write_all(bytes)?;
        if sync {
            self.file.sync_data()?;
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// Whether the database will never take this write (retrying cannot help).
fn refused_for_good(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Rejected(_)
            | StoreError::Duplicate(_)
            | StoreError::NotFound(_)
            | StoreError::Corrupt(_)
    )
}

/// Lands journaled writes in order, retrying with backoff, until closed.
async fn land_loop(inner: Arc<Inner>) {
    let mut backoff = BACKOFF_MIN;
    let mut one_at_a_time = false;
    let mut failing_since: Option<Instant> = None;
    let mut last_logged: Option<Instant> = None;
    loop {
        let work = inner.work.notified();
        tokio::pin!(work);
        work.as_mut().enable();
        if inner.closing.load(Ordering::Acquire) {
            return;
        }
        let batch = inner
            .lock()
            .journal
            .front(if one_at_a_time { 1 } else { BATCH });
        let Some((last_seq, _)) = batch.last().cloned() else {
            work.await;
            continue;
        };
        // A report with a refused answer is not completed (it would claim all answers).
        let poisoned_completion = {
            let st = inner.lock();
            batch.iter().find(|(_, w)| {
                matches!(w, ReportWrite::Complete { .. }) && st.poisoned.contains(w.report())
            })
        };
        if let Some((seq, w)) = poisoned_completion.filter(|_| batch.len() == 1) {
            inner
                .set_aside(
                    *seq,
                    w,
                    &StoreError::Rejected("answers were refused".into()),
                )
                .await;
            inner.mark_landed(*seq, 0).await;
            continue;
        }
        if poisoned_completion.is_some() {
            one_at_a_time = true;
            continue;
        }
        let writes: Vec<&ReportWrite> = batch.iter().map(|(_, w)| w).collect();
        let result = tokio::time::timeout(
            inner.write_timeout,
            inner.store.apply_report_writes(&writes),
        )
        .await;
        match result {
            Ok(Ok(())) => {
                inner.mark_landed(last_seq, batch.len() as u64).await;
                if let Some(since) = failing_since.take() {
                    tracing::warn!(
                        after_ms = since.elapsed().as_millis() as u64,
                        "case store writes land again"
                    );
                }
                backoff = BACKOFF_MIN;
                one_at_a_time = false;
                last_logged = None;
            }
            Ok(Err(e)) if refused_for_good(&e) => {
                if batch.len() > 1 {
                    one_at_a_time = true;
                } else {
                    inner.set_aside(last_seq, &batch[0].1, &e).await;
                    inner.mark_landed(last_seq, 0).await;
                }
            }
            failed => {
                inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                failing_since.get_or_insert(now);
                if last_logged.is_none_or(|t| now.duration_since(t) >= FAILURE_LOG_EVERY) {
                    last_logged = Some(now);
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {:?}", inner.write_timeout),
                    };
                    let pending = inner.lock().journal.len();
                    tracing::warn!(pending, error = %error,
                        "case store write failed; kept in the journal and retried");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut work, if inner.closing.load(Ordering::Acquire) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Creates the spool directory and this node's spool, and takes over the spools of
/// stopped nodes on the same database. Returns the spool and the adopted pending writes.
fn open_spool(
    dir: &Path,
    header: String,
    database: &str,
) -> Result<(Option<Spool>, Vec<ReportWrite>), WriterError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriterError::Spool { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let name = format!("node-{}-{:08x}", std::process::id(), rand::random::<u32>());
    let lock_path = dir.join(format!("{name}.lock"));
    let lock = File::create(&lock_path).map_err(err(&lock_path))?;
    lock.try_lock().map_err(|e| WriterError::Spool {
        path: lock_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut adopted = Vec::new();
    let mut adopted_files = Vec::new();
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "spool"))
        .collect();
    others.sort();
    for other in others {
        let other_lock = other.with_extension("lock");
        let Ok(l) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&other_lock)
        else {
            continue;
        };
        if l.try_lock().is_err() {
            continue; // its node is running
        }
        let Ok(bytes) = std::fs::read(&other) else {
            continue;
        };
        let contents = read_spool(&bytes);
        if contents
            .header
            .as_ref()
            .is_some_and(|h| h.database != database)
        {
            tracing::warn!(path = %other.display(), "spool of another database left alone");
            continue;
        }
        if contents.skipped_lines > 0 {
            tracing::warn!(path = %other.display(), lines = contents.skipped_lines,
                "spool lines unreadable (a torn last line after a crash is normal)");
        }
        adopted.extend(contents.pending.into_iter().map(|(_, w)| w));
        adopted_files.push((other, other_lock, l));
    }
    let path = dir.join(format!("{name}.spool"));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(err(&path))?;
    file.write_all(header.as_bytes()).map_err(err(&path))?;
    // The adopted writes go into our spool (fsync'd) before their old files go.
    for (seq, write) in adopted.iter().enumerate() {
        let line = SpoolLine::Entry {
            seq: seq as Seq + 1,
            write: write.clone(),
        };
        file.write_all(line.to_line().as_bytes())
            .map_err(err(&path))?;
    }
    file.sync_all().map_err(err(&path))?;
    sync_dir(dir);
    for (spool, lock_file, held) in adopted_files {
        let _ = std::fs::remove_file(&spool);
        let _ = std::fs::remove_file(&lock_file);
        drop(held);
    }
    sync_dir(dir);
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let synced_upto = adopted.len() as Seq;
    Ok((
        Some(Spool {
            dir: dir.to_path_buf(),
            path,
            lock_path,
            file: Arc::new(file),
            _lock: lock,
            len,
            header,
            synced_upto,
        }),
        adopted,
    ))
}

/// Replaces the spool with `content` atomically (temp file, fsync, rename).
fn rewrite(dir: &Path, path: &Path, content: &[u8]) -> std::io::Result<File> {
    let tmp = path.with_extension("spool.tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir);
    OpenOptions::new().append(true).open(path)
}

/// Makes a rename or removal in `dir` durable (best effort: not every filesystem allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
