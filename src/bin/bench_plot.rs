//! Draws the sweep of `scripts/bench.py` (the JSON results it writes) into a PNG: for each
//! feature width, the time per training step against the batch size, log-log, one line per side
//! (Rust, C++, Python); and Rust/Python and Rust/C++ against the batch size.
//!
//!     bench_plot RESULTS.json OUT.png
use anyhow::{bail, Context, Result};
use image::ImageEncoder;
use lesson_torch::cli;
use lesson_torch::io::plot::{draw_legend, draw_line, LineStyle, Series};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;
use std::ops::Range;
use std::process::ExitCode;

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

fn read(path: &str) -> Result<Vec<Width>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("{path}: not JSON"))?;
    let Some(widths) = json["sweep"].as_array() else {
        bail!("{path}: no \"sweep\" array");
    };
    let numbers = |v: &Value| -> Result<Vec<f64>> {
        v.as_array()
            .context("expected an array")?
            .iter()
            .map(|x| x.as_f64().context("expected a number"))
            .collect()
    };
    widths
        .iter()
        .map(|w| {
            Ok(Width {
                features: w["features"].as_i64().context("features")?,
                rows: numbers(&w["rows"])?,
                sides: SIDES
                    .iter()
                    .map(|(key, _, _)| numbers(&w["median_s"][key]))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

fn draw(widths: &[Width], out: &str) -> Result<()> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let panels = widths.len() + 1;
    let size = (520 * panels as u32, 460);
    // Drawn in memory, then encoded and written atomically like every output of the project.
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    draw_on(widths, &mut rgb, size)?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| anyhow::anyhow!("cannot encode the PNG: {e}"))?;
    lesson_torch::io::files::write_atomic(std::path::Path::new(out), |w| {
        Ok(std::io::Write::write_all(w, &png)?)
    })
}

fn err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn draw_on(widths: &[Width], rgb: &mut [u8], size: (u32, u32)) -> Result<()> {
    let panels = widths.len() + 1;
    let root = BitMapBackend::with_buffer(rgb, size).into_drawing_area();
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
    cli::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let [results, out] = args.as_slice() else {
            bail!("usage: bench_plot RESULTS.json OUT.png");
        };
        draw(&read(results)?, out)?;
        println!("written to {out}");
        Ok(())
    })
}
