//! The Redis backend: every key of store `S` in namespace `N` is `wasmpod:N:S:<key>` in the
//! server's database, so stores never see each other's keys. One connection manager per store
//! per process, made at the first open that succeeds (a failed connect or a refused password is
//! the guest's error, and the next open tries again). `increment` is `INCRBY`; compare-and-swap a
//! Lua script (one atomic step on the server).

use super::{StoreError, LIST_PAGE};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Longest a connect, or one command, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `KEYS[1]` is set to `ARGV[3]` if it is absent (`ARGV[1]` = "0") or holds `ARGV[2]`.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// One Redis server as one store reaches it.
pub(crate) struct RedisConnection {
    client: redis::Client,
    /// `host:port/db`, for messages (never the password).
    target: String,
    manager: OnceCell<ConnectionManager>,
    cas: redis::Script,
}

impl RedisConnection {
    /// Parses `url` (`redis://host:port/db`); `password` overrides the URL's.
    pub(crate) fn new(url: &str, password: Option<&str>) -> Result<RedisConnection, StoreError> {
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(|e| StoreError(format!("redis url {url:?}: {e}")))?;
        let target = format!("{}/{}", info.addr(), info.redis_settings().db());
        let info = match password {
            Some(p) => {
                let settings = info.redis_settings().clone().set_password(p);
                info.set_redis_settings(settings)
            }
            None => info,
        };
        let client =
            redis::Client::open(info).map_err(|e| StoreError(format!("redis at {target}: {e}")))?;
        Ok(RedisConnection {
            client,
            target,
            manager: OnceCell::new(),
            cas: redis::Script::new(CAS_SCRIPT),
        })
    }

    async fn manager(&self) -> Result<ConnectionManager, StoreError> {
        self.manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(2);
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .map_err(|e| StoreError(format!("redis at {}: {e}", self.target)))
            })
            .await
            .cloned()
    }
}

#[derive(Clone)]
pub struct RedisStore {
    name: String,
    prefix: String,
    connection: Arc<RedisConnection>,
}

impl RedisStore {
    pub(crate) fn new(namespace: &str, store: &str, connection: Arc<RedisConnection>) -> Self {
        RedisStore {
            name: format!("{namespace}/{store}"),
            prefix: format!("wasmpod:{namespace}:{store}:"),
            connection,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn failed(&self, what: &str, e: redis::RedisError) -> StoreError {
        StoreError(format!("redis at {} ({what}): {e}", self.connection.target))
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        self.connection.manager().await.map(drop)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.connection.manager().await?;
        c.get(self.key(key))
            .await
            .map_err(|e| self.failed("get", e))
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut c = self.connection.manager().await?;
        c.set(self.key(key), value)
            .await
            .map_err(|e| self.failed("set", e))
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.connection.manager().await?;
        c.del(self.key(key))
            .await
            .map_err(|e| self.failed("delete", e))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.connection.manager().await?;
        c.exists(self.key(key))
            .await
            .map_err(|e| self.failed("exists", e))
    }

    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let mut c = self.connection.manager().await?;
        let start: u64 = match cursor.as_deref() {
            None => 0,
            Some(text) => text
                .parse()
                .map_err(|_| StoreError(format!("list-keys: cursor {text:?} is not ours")))?,
        };
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(start)
            .arg("MATCH")
            .arg(format!("{}*", self.prefix))
            .arg("COUNT")
            .arg(LIST_PAGE)
            .query_async(&mut c)
            .await
            .map_err(|e| self.failed("list-keys", e))?;
        let keys = keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_string))
            .collect();
        Ok((keys, (next != 0).then(|| next.to_string())))
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut c = self.connection.manager().await?;
        c.incr(self.key(key), delta)
            .await
            .map_err(|e| self.failed("increment", e))
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut c = self.connection.manager().await?;
        let swapped: i64 = self
            .connection
            .cas
            .key(self.key(key))
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(new)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.failed("compare-and-swap", e))?;
        Ok(swapped == 1)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.connection.manager().await?;
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        redis::cmd("MGET")
            .arg(full)
            .query_async(&mut c)
            .await
            .map_err(|e| self.failed("get-many", e))
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut c = self.connection.manager().await?;
        let mut cmd = redis::cmd("MSET");
        for (key, value) in pairs {
            cmd.arg(self.key(key)).arg(value.as_slice());
        }
        cmd.query_async(&mut c)
            .await
            .map_err(|e| self.failed("set-many", e))
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut c = self.connection.manager().await?;
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        c.del(full).await.map_err(|e| self.failed("delete-many", e))
    }
}
