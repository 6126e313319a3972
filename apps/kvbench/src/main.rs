//! kvbench command line: run, print the summary, write JSON / plot /
//! markdown. Exit status 1 when the run failed, completed nothing, or
//! --verify found a reply that contradicts what the run wrote.

use std::io::IsTerminal;

use clap::Parser;
use kvbench::cli::Args;
use kvbench::report::Summary;

fn main() {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("kvbench: {e:#}");
        std::process::exit(2);
    }
    let runtime = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("tokio runtime");
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let result = match runtime.block_on(kvbench::runner::run(args.clone(), progress)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kvbench: {e:#}");
            std::process::exit(1);
        }
    };
    let summary = Summary::new(&args, &result);
    summary.print(&mut std::io::stdout()).expect("stdout");
    let outputs = [
        args.json.as_ref().map(|p| summary.write_json(p)),
        args.plot.as_ref().map(|p| kvbench::plot::draw(&summary, p)),
        args.markdown.as_ref().map(|p| summary.append_markdown(p)),
    ];
    let mut failed = false;
    for e in outputs.into_iter().flatten().filter_map(Result::err) {
        eprintln!("kvbench: {e:#}");
        failed = true;
    }
    if summary.verify.mismatches > 0 {
        eprintln!("kvbench: VERIFY FAILED: {} replies contradict what this run wrote", summary.verify.mismatches);
        failed = true;
    }
    if summary.ops == 0 {
        eprintln!("kvbench: no request completed");
        failed = true;
    }
    std::process::exit(i32::from(failed));
}
