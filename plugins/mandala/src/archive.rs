//! The optional archive: every mandala is also stored in an object store (a local directory,
//! S3 or Google Cloud Storage) under a unique key, and can be linked at a public address.

use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreScheme, PutOptions, PutPayload};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How long one upload may take before the image is sent without it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The folder, under the store URL's location, that holds the images.
pub const FOLDER: &str = "mandalas";

/// The prefixes of the environment variables passed to the store's builder (credentials,
/// region, endpoint): `AWS_*` for S3, `GOOGLE_*` for Google Cloud Storage.
const ENV_PREFIXES: [&str; 2] = ["AWS_", "GOOGLE_"];

/// Why an archive could not be opened or an image not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The store URL is not a URL.
    #[error("`{url}` is not a URL: {source}")]
    StoreUrl {
        /// The text given.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The public base URL is not an `http` or `https` URL.
    #[error("`{url}` is not an http(s) URL{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    PublicUrl {
        /// The text given.
        url: String,
        /// Why it does not parse, if it does not.
        reason: Option<String>,
    },
    /// The object store rejected the URL (an unsupported scheme, a missing bucket, …) or the upload.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// The upload took longer than the archive's timeout.
    #[error("storing {key} took longer than {timeout:?}")]
    Timeout {
        /// The key being written.
        key: String,
        /// The limit.
        timeout: Duration,
    },
}

/// Where an image was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The key under the store URL's location, e.g. `mandalas/42-k3x9q0ab.png`.
    pub key: String,
    /// The public address (`public_base_url/key`), when a public base URL is configured.
    pub url: Option<String>,
}

/// An object store that keeps a copy of every image.
#[derive(Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    root: Path,
    public_base: Option<String>,
    content_type: bool,
    timeout: Duration,
    display: String,
}

impl fmt::Debug for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archive")
            .field("store", &self.display)
            .field("public_base", &self.public_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Archive {
    /// Opens the store at `store_url` (`file:///srv/mandalas`, `s3://bucket/prefix`,
    /// `gs://bucket`, `memory:///`), configured from the `AWS_*` and `GOOGLE_*` environment
    /// variables (credentials, region, endpoint). Images are linked at
    /// `public_base_url/mandalas/<name>` when `public_base_url` is given, the address at which
    /// the store URL's location is served.
    ///
    /// Nothing is contacted yet: a wrong credential shows at the first upload.
    ///
    /// # Errors
    /// [`ArchiveError`] naming the URL that is malformed or unsupported.
    pub fn open(store_url: &str, public_base_url: Option<&str>) -> Result<Archive, ArchiveError> {
        let env = std::env::vars().filter(|(key, _)| ENV_PREFIXES.iter().any(|p| key.starts_with(p)));
        Archive::open_with(store_url, public_base_url, env)
    }

    /// As [`Archive::open`], with the store's options given explicitly (keys as in
    /// `object_store`'s builders, e.g. `aws_region`, `aws_endpoint`, `google_service_account`)
    /// instead of read from the environment.
    ///
    /// # Errors
    /// As [`Archive::open`].
    pub fn open_with<I, K, V>(
        store_url: &str,
        public_base_url: Option<&str>,
        options: I,
    ) -> Result<Archive, ArchiveError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let url =
            Url::parse(store_url).map_err(|source| ArchiveError::StoreUrl { url: store_url.to_string(), source })?;
        let public_base = public_base_url.map(check_public_base).transpose()?;
        let (scheme, _) = ObjectStoreScheme::parse(&url).map_err(object_store::Error::from)?;
        let (store, root) = object_store::parse_url_opts(&url, options)?;
        Ok(Archive {
            store: Arc::from(store),
            root,
            public_base,
            // The local and in-memory stores reject attributes; the cloud ones serve them.
            content_type: !matches!(scheme, ObjectStoreScheme::Local | ObjectStoreScheme::Memory),
            timeout: DEFAULT_TIMEOUT,
            display: redact(&url),
        })
    }

    /// Sets how long one upload may take (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The public base URL images are linked at, if any.
    pub fn public_base_url(&self) -> Option<&str> {
        self.public_base.as_deref()
    }

    /// Stores `png` under a fresh key `mandalas/<seed>-<8 random characters>.png`.
    ///
    /// # Errors
    /// [`ArchiveError::Store`] if the store refuses the upload, [`ArchiveError::Timeout`] if it
    /// takes too long.
    pub async fn store(&self, seed: u64, png: Vec<u8>) -> Result<Stored, ArchiveError> {
        let name = format!("{seed}-{}.png", unique_suffix());
        let key = format!("{FOLDER}/{name}");
        let location = self.root.clone().join(FOLDER).join(name.as_str());
        let mut options = PutOptions::default();
        if self.content_type {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, "image/png".into());
            options.attributes = attributes;
        }
        let put = self.store.put_opts(&location, PutPayload::from(png), options);
        match tokio::time::timeout(self.timeout, put).await {
            Ok(result) => {
                result?;
            }
            Err(_) => return Err(ArchiveError::Timeout { key, timeout: self.timeout }),
        }
        let url = self.public_base.as_ref().map(|base| format!("{base}/{key}"));
        Ok(Stored { key, url })
    }
}

impl fmt::Display for Archive {
    /// The store's URL (without any password it held).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// Checks that `text` is an http(s) URL and returns it without a trailing `/`.
fn check_public_base(text: &str) -> Result<String, ArchiveError> {
    let url =
        Url::parse(text).map_err(|e| ArchiveError::PublicUrl { url: text.to_string(), reason: Some(e.to_string()) })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ArchiveError::PublicUrl { url: text.to_string(), reason: None });
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Eight random lowercase letters and digits: with the seed, a key no other image has.
fn unique_suffix() -> String {
    (0..8).map(|_| fastrand::alphanumeric().to_ascii_lowercase()).collect()
}

/// The URL without its password, for logs.
fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[test]
    fn urls_are_checked() {
        let err = Archive::open_with("not a url", None, Vec::<(String, String)>::new()).unwrap_err();
        assert!(err.to_string().starts_with("`not a url` is not a URL"), "{err}");
        let err = Archive::open_with("memory:///", Some("ftp://x/y"), Vec::<(String, String)>::new()).unwrap_err();
        assert_eq!(err.to_string(), "`ftp://x/y` is not an http(s) URL");
        let err = Archive::open_with("nope://bucket", None, Vec::<(String, String)>::new()).unwrap_err();
        assert!(err.to_string().contains("nope://bucket"), "{err}");
        let archive =
            Archive::open_with("memory:///", Some("https://cdn.example/m/"), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(archive.public_base_url(), Some("https://cdn.example/m"));
    }

    #[test]
    #[cfg(feature = "cloud")]
    fn cloud_urls_open_without_contacting_anyone() {
        let options = [("aws_region", "eu-west-1"), ("aws_access_key_id", "AKID"), ("aws_secret_access_key", "s")];
        let archive = Archive::open_with("s3://bucket/images", None, options).unwrap();
        assert_eq!(archive.root.as_ref(), "images");
        assert!(archive.content_type);
        assert!(Archive::open_with("gs://bucket", None, Vec::<(String, String)>::new()).is_ok());
    }

    #[test]
    fn keys_are_unique() {
        let a = unique_suffix();
        assert_eq!(a.len(), 8);
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(a, unique_suffix());
    }

    #[tokio::test]
    async fn stores_in_memory_with_public_url() {
        let archive = Archive::open_with("memory:///", Some("https://cdn.example"), Vec::<(String, String)>::new())
            .unwrap()
            .with_timeout(Duration::from_secs(5));
        let stored = archive.store(42, vec![1, 2, 3]).await.unwrap();
        assert!(stored.key.starts_with("mandalas/42-") && stored.key.ends_with(".png"), "{}", stored.key);
        assert_eq!(stored.url, Some(format!("https://cdn.example/{}", stored.key)));
        let back = archive.store.get(&Path::from(stored.key.as_str())).await.unwrap().bytes().await.unwrap();
        assert_eq!(back.as_ref(), &[1, 2, 3]);
    }
}
