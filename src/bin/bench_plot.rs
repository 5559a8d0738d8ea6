//! Draws the sweep of `scripts/bench.py` (the JSON results it writes) into a PNG: for each
//! feature width, the time per training step against the batch size, log-log, one line per side
//! (Rust, C++, Python); and Rust/Python and Rust/C++ against the batch size.
//!
//!     bench_plot RESULTS.json OUT.png
//!
//! The results are checked before anything is drawn (at most 8 widths of at most 64 sizes, batch
//! sizes from 1 to 1e9, times from 1 ns to 10,000 s), and OUT is written as every output is
//! (io::files::write_atomic).
use anyhow::{bail, Context, Result};
use clap::Parser;
use lesson_torch::cli;
use lesson_torch::io::files;
use lesson_torch::io::plot::{self, draw_legend, draw_line, LineStyle, Series};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

lesson_torch::stop_signals_before_main!();

const SIDES: [(&str, &str, RGBColor); 3] = [
    ("rust", "Rust", RGBColor(214, 39, 40)),
    ("c++", "C++", RGBColor(31, 119, 180)),
    ("python", "Python", RGBColor(44, 160, 44)),
];

/// One width of the sweep: rows and the median seconds per step of each side.
struct Width {
    features: i64,
    rows: Vec<f64>,
    sides: Vec<Vec<f64>>,
}

/// Draws the batch-size sweep of scripts/bench.py's results into a PNG (bench.py runs it).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Part of the benchmarks: .venv/bin/python scripts/bench.py writes RESULTS (target/bench/results.json) and runs this program on it."
)]
struct Args {
    /// The JSON results that scripts/bench.py writes (its "sweep").
    #[arg(value_name = "RESULTS.json", value_parser = lesson_torch::cli::utf8_path)]
    results: PathBuf,
    /// The picture to write, a .png file.
    #[arg(value_name = "OUT.png", value_parser = png_path)]
    out: PathBuf,
}

fn png_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match plot::plot_format(&path) {
        Ok(plot::PlotFormat::Png) => Ok(path),
        _ => Err(format!("'{s}' does not end in .png")),
    }
}

/// At most this many widths, and sizes per width: bench.py writes 2 and 8.
const MAX_WIDTHS: usize = 8;
const MAX_SIZES: usize = 64;
/// bench.py's results are a few KB; this bounds what is read.
const MAX_RESULTS_BYTES: u64 = 4 << 20;

/// The sweep of a results file, checked: every number the picture needs is there, finite and
/// positive (a log scale has no place for 0), each side with one time per size.
fn read(path: &Path) -> Result<Vec<Width>> {
    let shown = path.display();
    let bytes = files::read_regular(path, MAX_RESULTS_BYTES, "results")?;
    let json: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{shown}: not JSON"))?;
    let Some(widths) = json["sweep"].as_array() else {
        bail!("{shown}: no \"sweep\" array");
    };
    if widths.is_empty() || widths.len() > MAX_WIDTHS {
        bail!(
            "{shown}: \"sweep\" has {} widths, expected 1 to {MAX_WIDTHS}",
            widths.len()
        );
    }
    // Log scales over plausible ranges only: plotters spins on a scale over 600 decades.
    let (sizes, times) = ((1.0, 1e9), (1e-9, 1e4));
    let numbers_in =
        |(lo, hi): (f64, f64), v: &Value, at: &str, len: Option<usize>| -> Result<Vec<f64>> {
            let Some(items) = v.as_array() else {
                bail!("{shown}: {at} is not an array of numbers");
            };
            if items.is_empty() || items.len() > MAX_SIZES || len.is_some_and(|n| n != items.len())
            {
                let expected = len.map_or(format!("1 to {MAX_SIZES}"), |n| n.to_string());
                bail!(
                    "{shown}: {at} has {} numbers, expected {expected}",
                    items.len()
                );
            }
            let numbers = items
                .iter()
                .map(|x| x.as_f64().filter(|x| (lo..=hi).contains(x)));
            let why = |i| format!("{shown}: {at}[{i}] is not a number from {lo} to {hi}");
            numbers
                .enumerate()
                .map(|(i, x)| x.with_context(|| why(i)))
                .collect()
        };
    let mut out = Vec::new();
    for (i, w) in widths.iter().enumerate() {
        let features = w["features"].as_i64().filter(|f| *f > 0);
        let features = features
            .with_context(|| format!("{shown}: sweep[{i}].features is not an integer > 0"))?;
        let rows = numbers_in(sizes, &w["rows"], &format!("sweep[{i}].rows"), None)?;
        if rows.windows(2).any(|pair| pair[1] <= pair[0]) {
            bail!("{shown}: sweep[{i}].rows are not in increasing order");
        }
        let sides = SIDES.iter().map(|(key, _, _)| {
            numbers_in(
                times,
                &w["median_s"][key],
                &format!("sweep[{i}].median_s.{key}"),
                Some(rows.len()),
            )
        });
        let sides = sides.collect::<Result<_>>()?;
        out.push(Width {
            features,
            rows,
            sides,
        });
    }
    Ok(out)
}

fn draw(widths: &[Width], out: &Path) -> Result<()> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let panels = widths.len() + 1;
    let size = (520 * panels as u32, 460);
    // Drawn in memory as SVG, rasterised as every picture of the project is, written atomically.
    let mut svg = String::new();
    draw_on(widths, &mut svg, size)?;
    let png = plot::rasterise(&svg, 1.0)?;
    files::write_atomic(out, |w| Ok(w.write_all(&png)?))
}

fn err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn draw_on(widths: &[Width], svg: &mut String, size: (u32, u32)) -> Result<()> {
    let panels = widths.len() + 1;
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let areas = root.split_evenly((1, panels));
    let all_rows = widths.iter().flat_map(|w| w.rows.iter().copied());
    let (x0, x1) = all_rows.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let batch = x0 * 0.8..x1 * 1.25;
    for (w, area) in widths.iter().zip(&areas) {
        time_panel(area, w, batch.clone())?;
    }
    ratio_panel(&areas[widths.len()], widths, batch)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Time per step against the batch size for one width, log-log, a line per side.
fn time_panel(area: &Area, w: &Width, batch: Range<f64>) -> Result<()> {
    let ys = w.sides.iter().flatten().copied();
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("time per step, N x {} -> 10", w.features),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            batch.log_scale(),
            (y0 * 1e6 * 0.7..y1 * 1e6 * 1.4).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("batch size N (log)")
        .y_desc("µs per step (log)")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{}", y.round() as i64))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for ((_, label, color), times) in SIDES.iter().zip(&w.sides) {
        let points = w.rows.iter().zip(times).map(|(&x, &t)| (x, t * 1e6));
        let style = LineStyle {
            color: *color,
            dashed: false,
            dots: true,
        };
        draw_line(&mut chart, label, points.collect(), style)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)
}

/// Rust/Python (solid) and Rust/C++ (dashed) for each width, the first width in lighter shades.
fn ratio_lines(widths: &[Width]) -> Vec<(Series, LineStyle)> {
    let mut lines = Vec::new();
    for (i, w) in widths.iter().enumerate() {
        let shade = if i == 0 { 0.55 } else { 1.0 };
        let tint = |c: RGBColor| {
            let f = |v: u8| (255.0 - (255.0 - v as f64) * shade) as u8;
            RGBColor(f(c.0), f(c.1), f(c.2))
        };
        for (k, dashed) in [(2, false), (1, true)] {
            let ratio = w.rows.iter().zip(w.sides[0].iter().zip(&w.sides[k]));
            let label = format!("Rust/{}, {} features", SIDES[k].1, w.features);
            let style = LineStyle {
                color: tint(SIDES[k].2),
                dashed,
                dots: true,
            };
            let points = ratio.map(|(&x, (&r, &o))| (x, r / o)).collect();
            lines.push((Series { label, points }, style));
        }
    }
    lines
}

/// The ratios of the times per step against the batch size, with the line of equal times.
fn ratio_panel(area: &Area, widths: &[Width], batch: Range<f64>) -> Result<()> {
    let lines = ratio_lines(widths);
    let y1 = lines
        .iter()
        .flat_map(|(series, _)| series.points.iter().map(|p| p.1))
        .fold(1.1f64, f64::max);
    let (x0, x1) = (batch.start, batch.end);
    let mut chart = ChartBuilder::on(area)
        .caption("Rust / other side", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(batch.log_scale(), 0f64..(y1 * 1.05))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("batch size N (log)")
        .y_desc("ratio of times per step")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new([(x0, 1.0), (x1, 1.0)], BLACK.mix(0.4)))
        .map_err(err)?;
    for (series, style) in lines {
        draw_line(&mut chart, &series.label, series.points, style)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 13)
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    cli::run(|| {
        cli::distinct_files(&[("RESULTS", &args.results, false), ("OUT", &args.out, true)])?;
        files::check_writable(&args.out)?;
        // Silent on success: OUT may be a name of stdout itself.
        draw(&read(&args.results)?, &args.out)
    })
}
