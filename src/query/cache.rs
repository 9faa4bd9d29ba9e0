//! The bytes of hot Parquet files in memory, in front of the object store
//! that queries read through, so that a dashboard refresh does not go to
//! object storage (or, on local disk, through a blocking-pool hop and a
//! system call per page).
//!
//! ```text
//! Parquet reader ─get_range(s)─▶ CachedStore ─hit─▶ slices of the cached file
//!                                    └─miss─▶ inner GET of the whole file ─▶ cache ─▶ slices
//! ```
//!
//! Whole files, because a file is immutable under its key (every persist
//! writes a new file id) and queries of the same partition read scattered
//! pages of it. Weighted in bytes with a configured capacity; a file bigger
//! than an eighth of it is read by range, uncached, so one huge file cannot
//! flush everything else. Decoded footers and page indexes live in
//! DataFusion's metadata cache, not here.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// One cached object.
#[derive(Debug, Clone)]
struct CachedFile {
    meta: ObjectMeta,
    bytes: Bytes,
}

#[derive(Debug)]
pub(crate) struct CachedStore {
    inner: Arc<dyn ObjectStore>,
    files: moka::future::Cache<Path, Option<CachedFile>>,
    /// Files at most this big are cached.
    max_file: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl fmt::Display for CachedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CachedStore({})", self.inner)
    }
}

impl CachedStore {
    /// Caches up to `capacity` bytes of files read through `inner`.
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, capacity: u64) -> Self {
        let files = moka::future::Cache::builder()
            .max_capacity(capacity)
            // `None` remembers a file too big to cache, so it is not fetched whole again.
            .weigher(|path: &Path, file: &Option<CachedFile>| {
                let bytes = file.as_ref().map_or(0, |f| f.bytes.len()) + path.as_ref().len() + 64;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .build();
        Self { inner, files, max_file: capacity / 8, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// (hits, misses) so far.
    #[cfg(test)]
    fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// The whole file, from memory or fetched once; `None` when it is too big
    /// to cache or could not be fetched (the caller then asks the store itself,
    /// which answers with the real error).
    async fn file(&self, location: &Path) -> Option<CachedFile> {
        if self.max_file == 0 {
            return None;
        }
        let mut fetched = false;
        let loaded = self
            .files
            .try_get_with_by_ref(location, async {
                fetched = true;
                let got = self.inner.get_opts(location, GetOptions::default()).await?;
                if got.meta.size > self.max_file {
                    return Ok::<_, object_store::Error>(None);
                }
                let meta = got.meta.clone();
                let bytes = got.bytes().await?;
                Ok(Some(CachedFile { meta, bytes }))
            })
            .await;
        let counter = if fetched { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        loaded.ok().flatten()
    }
}

/// Whether a read asks for more than bytes (conditions, versions, only the head).
fn plain(options: &GetOptions) -> bool {
    options.if_match.is_none()
        && options.if_none_match.is_none()
        && options.if_modified_since.is_none()
        && options.if_unmodified_since.is_none()
        && options.version.is_none()
        && !options.head
}

#[async_trait]
impl ObjectStore for CachedStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.files.invalidate(location).await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.files.invalidate(location).await;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !plain(&options) {
            return self.inner.get_opts(location, options).await;
        }
        let Some(file) = self.file(location).await else {
            return self.inner.get_opts(location, options).await;
        };
        let range = match &options.range {
            Some(range) => range
                .as_range(file.meta.size)
                .map_err(|e| object_store::Error::Generic { store: "cache", source: Box::new(e) })?,
            None => 0..file.meta.size,
        };
        let bytes = slice(&file.bytes, &range);
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(bytes) }).boxed()),
            meta: file.meta,
            range,
            attributes: Default::default(),
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        match self.file(location).await {
            Some(file) if ranges.iter().all(|r| r.start <= r.end && r.end <= file.meta.size) => {
                Ok(ranges.iter().map(|r| slice(&file.bytes, r)).collect())
            }
            _ => self.inner.get_ranges(location, ranges).await,
        }
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let files = self.files.clone();
        self.inner
            .delete_stream(locations)
            .then(move |deleted| {
                let files = files.clone();
                async move {
                    if let Ok(path) = &deleted {
                        files.invalidate(path).await;
                    }
                    deleted
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.files.invalidate(to).await;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.files.invalidate(from).await;
        self.files.invalidate(to).await;
        self.inner.rename_opts(from, to, options).await
    }
}

fn slice(bytes: &Bytes, range: &Range<u64>) -> Bytes {
    let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(bytes.len());
    let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(end);
    bytes.slice(start..end)
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    async fn store_with(path: &str, len: usize) -> (Arc<dyn ObjectStore>, Path) {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let path = Path::from(path);
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        inner.put(&path, PutPayload::from(body)).await.expect("put");
        (inner, path)
    }

    #[tokio::test]
    async fn ranges_come_from_memory_once_a_file_was_read() {
        let (inner, path) = store_with("data/a.parquet", 1000).await;
        let cached = CachedStore::new(Arc::clone(&inner), 1 << 20);
        assert_eq!(cached.get_range(&path, 10..20).await.expect("range").as_ref(), &(10..20).collect::<Vec<u8>>()[..]);
        // Gone from the store, still answered: the bytes are in memory.
        inner.delete(&path).await.expect("delete");
        let ranges = cached.get_ranges(&path, &[0..3, 997..1000]).await.expect("ranges");
        assert_eq!(ranges[0].as_ref(), &[0, 1, 2]);
        assert_eq!(ranges[1].as_ref(), &[(997 % 251) as u8, (998 % 251) as u8, (999 % 251) as u8]);
        let whole = cached.get(&path).await.expect("get").bytes().await.expect("bytes");
        assert_eq!(whole.len(), 1000);
        assert_eq!(cached.counts(), (2, 1));
        // A range past the end answers the rest, as the stores do.
        assert!(cached.get_range(&path, 990..2000).await.is_ok_and(|b| b.len() == 10));
    }

    #[tokio::test]
    async fn files_over_an_eighth_of_the_capacity_are_read_by_range() {
        let (inner, path) = store_with("data/big.parquet", 1000).await;
        let cached = CachedStore::new(Arc::clone(&inner), 4000);
        assert_eq!(cached.get_range(&path, 0..4).await.expect("range").as_ref(), &[0, 1, 2, 3]);
        inner.delete(&path).await.expect("delete");
        assert!(cached.get_range(&path, 0..4).await.is_err(), "not cached, so the store's NotFound");
        let missing = cached.get_range(&Path::from("data/none.parquet"), 0..4).await;
        assert!(matches!(missing, Err(object_store::Error::NotFound { .. })), "{missing:?}");
    }
}
