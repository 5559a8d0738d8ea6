//! The lesson's autograd section, step by step: `torch.autograd.backward` and its arguments.
use clap::Parser;
use lesson_torch::cli;
use lesson_torch::io::{files, graph_plot, plot, trace};
use lesson_torch::programs::autograd_demo::{self, DERIVATIVE_GRAPH, LESSON_GRAPH};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

/// Autograd from the lesson, step by step (scripts/reference.py autograd_demo prints the same).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Lesson: 三、自动微分模块 (torch.autograd.backward, 注意点, 计算图). Python twin: .venv/bin/python scripts/reference.py autograd_demo"
)]
struct Args {
    #[command(flatten)]
    common: cli::CommonArgs,
    /// Draw the computation graphs libtorch records (the lesson's y = (w + x) * (w + 1) and the
    /// derivative graph of create_graph) to FILE.svg or FILE.png; `-` prints them as text only.
    #[arg(long, value_name = "FILE", value_parser = graph_destination)]
    graph: Option<GraphDestination>,
}

#[derive(Debug, Clone)]
enum GraphDestination {
    /// `--graph -`: the graph block of the text, alone, on stdout.
    Text,
    Picture(PathBuf),
}

/// `--graph`: `-`, or a path ending in .svg or .png (another extension is a usage error).
fn graph_destination(s: &str) -> Result<GraphDestination, String> {
    if s == "-" {
        return Ok(GraphDestination::Text);
    }
    let path = PathBuf::from(s);
    if plot::plot_format(&path).is_ok() {
        return Ok(GraphDestination::Picture(path));
    }
    let why = match path.extension() {
        Some(ext) => format!("unknown extension '.{}'", ext.to_string_lossy()),
        None => "no extension".to_string(),
    };
    Err(format!(
        "cannot draw the graph to '{s}': {why} (use .svg, .png, or - for the text)"
    ))
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        if matches!(args.graph, Some(GraphDestination::Text)) && args.common.json() == Some("-") {
            return Err(cli::UsageError(
                "--graph - and --json - cannot both write to stdout".to_string(),
            )
            .into());
        }
        if let (Some(GraphDestination::Picture(picture)), Some(json)) =
            (&args.graph, args.common.json().filter(|j| *j != "-"))
        {
            cli::distinct_files(&[
                ("--graph", picture, true),
                ("--json", std::path::Path::new(json), true),
            ])?;
        }
        // Every output before the device: --graph, then --json (in prepare).
        if let Some(GraphDestination::Picture(path)) = &args.graph {
            files::check_writable(path)?;
        }
        let device = args.common.prepare()?;
        let (report, graphs) = autograd_demo::walkthrough_with_graphs(device)?;
        match &args.graph {
            Some(GraphDestination::Text) => {
                let mut out = lesson_torch::io::files::stdout();
                if let Some(block) = report.blocks.last() {
                    writeln!(out, "== {}", block.title)?;
                    for line in &block.lines {
                        writeln!(out, "{line}")?;
                    }
                }
                out.flush()?;
                if let Some(path) = args.common.json() {
                    trace::write_json(path, &report.to_json())?;
                }
            }
            _ => report.emit(args.common.json())?,
        }
        if let Some(GraphDestination::Picture(path)) = &args.graph {
            graph_plot::draw(
                path,
                "The computation graphs libtorch records, read from grad_fn.next_functions",
                &[
                    (LESSON_GRAPH, &graphs.lesson),
                    (DERIVATIVE_GRAPH, &graphs.derivative),
                ],
            )?;
        }
        Ok(())
    })
}
