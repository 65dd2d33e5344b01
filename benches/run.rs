//! Services and checks, side by side, on the example catalog's realistic PostgreSQL and Redis:
//!
//! - `baseimg run postgres` to ready (a fresh data volume, so initdb and the init scripts run) against
//!   what `make postgres` did: `docker run -d` and a loop polling `pg_isready -h 127.0.0.1` every
//!   half second;
//! - the time the smoke checks add to a build: a first `build --push` of redis and postgres, and the
//!   same checks run alone with `baseimg check`.
//!
//! Run: `cargo bench --bench run` (needs what `scripts/test` installs; the first run on a machine
//! builds the realistic fixture images, see `scripts/fixture-images`).

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{World, wait_until};

const ROUNDS: usize = 3;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn docker(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The example world with the services on ports of their own.
fn world() -> World {
    let world = World::example();
    world.edit_catalog(|catalog| {
        catalog
            .replace("127.0.0.1:6379:6379", "127.0.0.1:16379:6379")
            .replace("127.0.0.1:5432:5432", "127.0.0.1:15432:5432")
            .replace("baseimg-redis-data", "bench-redis-data")
            .replace("baseimg-postgres-data", "bench-postgres-data")
    });
    world
}

/// `baseimg run postgres` from nothing to ready, then `down --volumes`.
fn baseimg_run(world: &World) -> f64 {
    let clock = Instant::now();
    world.baseimg(&["run", "postgres"]).run();
    let seconds = clock.elapsed().as_secs_f64();
    world.baseimg(&["down", "postgres", "--volumes"]).run();
    seconds
}

/// The Makefile way: `docker run -d`, then poll until the server accepts TCP connections.
fn makefile_run(image: &str) -> f64 {
    let name = "bench-make-postgres";
    let clock = Instant::now();
    assert!(docker(&[
        "run",
        "--detach",
        "--name",
        name,
        "--env",
        "POSTGRES_HOST_AUTH_METHOD=trust",
        "--publish",
        "127.0.0.1:25432:5432",
        image,
    ]));
    let ready = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
        docker(&["exec", name, "pg_isready", "-h", "127.0.0.1", "-q"])
    });
    assert!(ready, "not ready");
    let seconds = clock.elapsed().as_secs_f64();
    docker(&["rm", "--force", "--volumes", name]);
    seconds
}

/// A `build --push` of redis and postgres into this world's empty private registry.
fn build(world: &World) -> f64 {
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    // Locked and mirrored above, `build` repeats those as no-ops (a fraction of a second).
    let clock = Instant::now();
    world.build(&["redis", "postgres"]);
    clock.elapsed().as_secs_f64()
}

fn main() {
    println!("preparing: realistic upstream images, two registries, redis and postgres built…");
    let checked = world();
    let with_checks = build(&checked);
    let postgres = checked.built_reference("postgres");

    let ours: Vec<f64> = (0..ROUNDS).map(|_| baseimg_run(&checked)).collect();
    let make: Vec<f64> = (0..ROUNDS).map(|_| makefile_run(&postgres)).collect();

    // What the checks add to a build is what running them takes: the same services started, the
    // same commands run (a second build without checks would hit the build cache and tell nothing).
    let clock = Instant::now();
    checked.baseimg(&["check", "redis", "postgres"]).run();
    let checks = clock.elapsed().as_secs_f64();

    println!();
    println!("| measure (median of {ROUNDS} where repeated) | time |");
    println!("| --- | ---: |");
    println!(
        "| `baseimg run postgres` to ready (fresh volume: initdb + init scripts) | {:.2} s |",
        median(ours)
    );
    println!(
        "| `docker run -d` + polling `pg_isready -h 127.0.0.1` every 0.5 s (the `make postgres` way) | {:.2} s |",
        median(make)
    );
    println!(
        "| first `build --push redis postgres`, checks included (6 checks, 2 services started) | {with_checks:.1} s |"
    );
    println!(
        "| the checks alone (`baseimg check redis postgres`): what they add to a build | {checks:.1} s ({:.0}% of the build) |",
        100.0 * checks / with_checks
    );
}
