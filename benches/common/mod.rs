//! Deterministic TSBS cpu-only line protocol: 10 tags, 10 float fields, one point per host every 10 s.

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-1"];
const OS: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// A small xorshift generator: the same seed gives the same data on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `points` lines spread over `hosts` hosts starting 2024-01-01, in nanosecond precision.
pub(crate) fn cpu_lines(hosts: usize, points: usize) -> String {
    let mut rng = Rng(0x5ED1_7E47);
    let mut out = String::with_capacity(points * 330);
    let start: i64 = 1_704_067_200_000_000_000;
    for i in 0..points {
        let host = i % hosts;
        let step = (i / hosts) as i64;
        out.push_str(&format!(
            "cpu,hostname=host_{host},region={},datacenter={}a,rack={},os={},arch=x64,team=NYC,service={},service_version={},service_environment=production ",
            REGIONS[host % 3],
            REGIONS[host % 3],
            host % 100,
            OS[host % 3],
            host % 20,
            host % 2,
        ));
        for (f, name) in FIELDS.iter().enumerate() {
            if f > 0 {
                out.push(',');
            }
            let v = (rng.next() % 10_000) as f64 / 100.0;
            out.push_str(&format!("{name}={v}"));
        }
        out.push_str(&format!(" {}\n", start + step * 10_000_000_000));
    }
    out
}
