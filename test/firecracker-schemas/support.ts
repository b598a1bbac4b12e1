/**
 * A small Firecracker-shaped git repository built in a temp directory, commit by commit, for the
 * derivation and the generator to read as they read the real one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export class TempRepo {
  readonly dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-fc-'));

  constructor() {
    this.#git('init', '--quiet', '--initial-branch=main');
  }

  #git(...args: string[]): string {
    return execFileSync('git', ['-C', this.dir, '-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'commit.gpgsign=false', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Commits exactly these files as the tree (tagged if asked); returns the commit's hash. */
  commit(files: Readonly<Record<string, string>>, tag?: string): string {
    for (const entry of readdirSync(this.dir)) if (entry !== '.git') rmSync(join(this.dir, entry), { recursive: true, force: true });
    for (const [path, text] of Object.entries(files)) {
      const full = join(this.dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text);
    }
    this.#git('add', '--all');
    this.#git('commit', '--quiet', '--allow-empty', '-m', tag ?? 'change');
    if (tag !== undefined) this.#git('tag', '--annotate', '-m', tag, tag);
    return this.#git('rev-parse', 'HEAD').trim();
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The sources of a release in the layout of Firecracker v1.6 on: the root document, a device family with an aggregate, legacy devices. */
export const MODERN: Readonly<Record<string, string>> = {
  'src/vmm/src/lib.rs': 'pub mod devices;\npub mod logger;\n',
  'src/vmm/src/logger/mod.rs': 'mod metrics;\npub use metrics::*;\n',
  'src/vmm/src/logger/metrics.rs': `//! The metrics.
use std::sync::Arc;
use serde::{Serialize, Serializer};

use crate::devices::disk::metrics as disk_metrics;
use crate::devices::legacy;

pub struct SharedIncMetric(AtomicU64, AtomicU64);
pub struct SharedStoreMetric(AtomicU64);

/// Used to record min/max/sum of latencies.
#[derive(Debug, Default, Serialize)]
pub struct LatencyAggregateMetrics {
    /// Least, in microseconds.
    pub min_us: SharedStoreMetric,
    /// Greatest, in microseconds.
    pub max_us: SharedStoreMetric,
    /// Sum, in microseconds.
    pub sum_us: SharedIncMetric,
}

/// Metrics of the API server.
#[derive(Debug, Default, Serialize)]
pub struct ApiServerMetrics {
    /// Measures the process's startup time in microseconds.
    pub process_startup_time_us: SharedStoreMetric,
    /// Number of requests.
    #[serde(rename = "requests")]
    pub request_count: SharedIncMetric,
    #[serde(skip)]
    pub internal: SharedIncMetric,
    /// Measures the snapshot load time,
    /// in microseconds.
    pub load_snapshot: SharedStoreMetric,
}

struct SerializeToUtcTimestampMs;

impl Serialize for SerializeToUtcTimestampMs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(1)
    }
}

pub struct InstanceIdField {
    enabled: AtomicBool,
}

impl Serialize for InstanceIdField {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.enabled.load(Ordering::Relaxed) {
            map.serialize_entry("id", "vm0")?;
        }
        map.end()
    }
}

macro_rules! create_serialize_proxy {
    ($proxy_struct:ident, $metric_mod:ident) => {
        #[derive(Default, Debug)]
        pub struct $proxy_struct;

        impl Serialize for $proxy_struct {
            fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error>
            where
                S: Serializer,
            {
                $metric_mod::flush_metrics(serializer)
            }
        }
    };
}

create_serialize_proxy!(DiskMetricsSerializeProxy, disk_metrics);
create_serialize_proxy!(LegacyDevMetricsSerializeProxy, legacy);

/// Structure storing all metrics.
#[derive(Debug, Default, Serialize)]
pub struct FirecrackerMetrics {
    utc_timestamp_ms: SerializeToUtcTimestampMs,
    #[serde(flatten)]
    pub id: InstanceIdField,
    /// API Server related metrics.
    pub api_server: ApiServerMetrics,
    #[serde(flatten)]
    pub disk_ser: DiskMetricsSerializeProxy,
    #[serde(flatten)]
    pub legacy_dev_ser: LegacyDevMetricsSerializeProxy,
    #[cfg(target_arch = "x86_64")]
    /// Only on x86.
    pub x86: Arc<ApiServerMetrics>,
}

#[cfg(test)]
mod tests {
    #[derive(Serialize)]
    struct FirecrackerMetrics {}
}
`,
  'src/vmm/src/devices/mod.rs': 'pub mod disk;\npub mod legacy;\n',
  'src/vmm/src/devices/disk/mod.rs': 'pub mod metrics;\n',
  'src/vmm/src/devices/disk/metrics.rs': `use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::logger::{LatencyAggregateMetrics, SharedIncMetric};

pub struct DiskMetricsPerDevice {
    pub metrics: BTreeMap<String, Arc<DiskDeviceMetrics>>,
}

static METRICS: RwLock<DiskMetricsPerDevice> = RwLock::new(DiskMetricsPerDevice { metrics: BTreeMap::new() });

pub fn flush_metrics<S: Serializer>(serializer: S) -> Result<S::Ok, S::Error> {
    let disk_metrics = METRICS.read().unwrap();
    let mut seq = serializer.serialize_map(Some(1 + disk_metrics.metrics.len()))?;
    let mut disk_aggregated: DiskDeviceMetrics = DiskDeviceMetrics::default();
    for (name, metrics) in disk_metrics.metrics.iter() {
        let devn = format!("disk_{}", name);
        let m: &DiskDeviceMetrics = metrics;
        disk_aggregated.aggregate(m);
        seq.serialize_entry(&devn, m)?;
    }
    seq.serialize_entry("disk", &disk_aggregated)?;
    seq.end()
}

/// Disk metrics.
#[derive(Debug, Default, Serialize)]
pub struct DiskDeviceMetrics {
    /// Number of reads.
    pub read_count: SharedIncMetric,
    // Bytes read.
    pub read_bytes: SharedIncMetric,
    /// Duration of reads.
    pub read_agg: LatencyAggregateMetrics,
}
`,
  'src/vmm/src/devices/legacy/mod.rs': `mod uart;
#[cfg(target_arch = "aarch64")]
pub mod rtc;

pub fn flush_metrics<S: Serializer>(serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_map(Some(1))?;
    seq.serialize_entry("uart", &uart::METRICS)?;
    #[cfg(target_arch = "aarch64")]
    seq.serialize_entry("rtc", &rtc::METRICS)?;
    seq.end()
}
`,
  'src/vmm/src/devices/legacy/uart.rs': `use crate::logger::SharedIncMetric;

#[derive(Debug, Default, Serialize)]
pub struct SerialDeviceMetrics {
    /// Number of flushes.
    pub flush_count: SharedIncMetric,
}

pub(super) static METRICS: SerialDeviceMetrics = SerialDeviceMetrics::new();
`,
  'src/vmm/src/devices/legacy/rtc.rs': `use crate::logger::SharedIncMetric;

#[derive(Debug, Serialize)]
pub struct RTCDeviceMetrics {
    /// Errors triggered while using the RTC device.
    pub error_count: SharedIncMetric,
}

pub static METRICS: RTCDeviceMetrics = RTCDeviceMetrics::new();
`,
  'tests/host_tools/fcmetrics.py': `"""Validates metrics."""
import platform


def validate_fc_metrics(metrics):
    """Checks every group."""
    latency_agg_metrics_fields = [
        "min_us",
        "max_us",
        "sum_us",
    ]
    disk_metrics = [
        "read_count",
        "read_bytes",
        {"read_agg": latency_agg_metrics_fields},
    ]
    firecracker_metrics = {
        "utc_timestamp_ms": "",
        "api_server": ["process_startup_time_us", "requests", "load_snapshot"],
        "disk": disk_metrics,
        "uart": ["flush_count"],  # a comment
        "x86": ["process_startup_time_us", "requests", "load_snapshot"],
    }
    if platform.machine() == "aarch64":
        firecracker_metrics["rtc"] = [
            "error_count",
        ]
    for metrics_name in metrics.keys():
        if metrics_name.startswith("disk_"):
            firecracker_metrics[metrics_name] = disk_metrics
    firecracker_metrics_schema = create_metrics_schema_objects(firecracker_metrics)
    firecracker_metrics_schema["properties"]["id"] = {"type": "string"}

    def validate_missing_metrics(metrics):
        metrics_x = {"ignored": ["inside a nested function"]}
`,
};

/** The same document in the layout of Firecracker v1.0 to v1.4: one crate for the logger, every group in the root struct. */
export const OLD: Readonly<Record<string, string>> = {
  'src/logger/src/lib.rs': 'mod metrics;\n',
  'src/logger/src/metrics.rs': `use lazy_static::lazy_static;

lazy_static! {
    /// Static instance used for handling metrics.
    pub static ref METRICS: Metrics<FirecrackerMetrics> = Metrics::new(FirecrackerMetrics::default());
}

pub struct Metrics<T: Serialize> {
    metrics_buf: Mutex<Option<Box<dyn Write + Send>>>,
    pub app_metrics: T,
}

#[derive(Default)]
pub struct SharedIncMetric(AtomicUsize, AtomicUsize);

/// Metrics related to the internal API server.
#[derive(Default, Serialize)]
pub struct ApiServerMetrics {
    /// Number of failures on API requests triggered by internal errors.
    pub sync_response_fails: SharedIncMetric,
}

/// Metrics specific to the RTC device.
#[cfg(target_arch = "aarch64")]
#[derive(Default, Serialize)]
pub struct RTCDeviceMetrics {
    /// Errors triggered while using the RTC device.
    pub error_count: SharedIncMetric,
}

#[derive(Default)]
struct SerializeToUtcTimestampMs;

impl Serialize for SerializeToUtcTimestampMs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(utils::time::get_time_ns(utils::time::ClockType::Real) as i64 / 1_000_000)
    }
}

/// Structure storing all metrics while enforcing serialization support on them.
#[derive(Default, Serialize)]
pub struct FirecrackerMetrics {
    utc_timestamp_ms: SerializeToUtcTimestampMs,
    /// API Server related metrics.
    pub api_server: ApiServerMetrics,
    #[cfg(target_arch = "aarch64")]
    /// Metrics related to the RTC device.
    pub rtc: Arc<RTCDeviceMetrics>,
    /// Block metrics, one group.
    pub block: ApiServerMetrics,
}
`,
};
