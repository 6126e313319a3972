//! --plot: throughput and latency over time, and the latency percentile
//! curve, as one PNG or SVG (by file extension). Text is drawn with a TTF
//! read at run time (Debian's fonts-dejavu-core, or $KVBENCH_FONT).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Summary;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers the font once per process.
fn load_font() -> Result<()> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let candidates: Vec<String> =
                std::env::var("KVBENCH_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string())).collect();
            let path = candidates.iter().find(|p| Path::new(p).exists()).ok_or_else(|| {
                format!(
                    "no TTF font found (tried {candidates:?}): apt-get install fonts-dejavu-core or set KVBENCH_FONT"
                )
            })?;
            let bytes: &'static [u8] =
                Box::leak(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path} is not a usable TTF font"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

pub fn draw(summary: &Summary, path: &Path) -> Result<()> {
    load_font()?;
    let size = (1000, 1200);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => draw_on(BitMapBackend::new(path, size).into_drawing_area(), summary),
        "svg" => draw_on(SVGBackend::new(path, size).into_drawing_area(), summary),
        _ => bail!("--plot {}: the file name must end in .png or .svg", path.display()),
    }
    .with_context(|| format!("drawing {}", path.display()))
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, s: &Summary) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    root.fill(&WHITE).map_err(e)?;
    let title = format!("{} — {:.0} ops/s, p99 {:.3} ms", s.label, s.ops_per_sec, s.latency_ms.p99);
    let root = root.titled(&title, ("sans-serif", 22)).map_err(e)?;
    let panels = root.split_evenly((3, 1));
    let secs = (s.timeline.len().max(1)) as f64;

    // Throughput per second.
    let max_ops = s.timeline.iter().map(|t| t.ops).max().unwrap_or(1).max(1) as f64;
    let mut c = ChartBuilder::on(&panels[0])
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .caption("throughput", ("sans-serif", 18))
        .build_cartesian_2d(0f64..secs, 0f64..max_ops * 1.1)
        .map_err(e)?;
    c.configure_mesh().x_desc("second").y_desc("ops/s").draw().map_err(e)?;
    let ops = || s.timeline.iter().map(|t| (t.second as f64 + 0.5, t.ops as f64));
    c.draw_series(LineSeries::new(ops(), &BLUE)).map_err(e)?;
    // Markers too: a run of one second is one point, which a line does not show.
    c.draw_series(ops().map(|p| Circle::new(p, 3, BLUE.filled()))).map_err(e)?;

    // Latency per second, log scale.
    let positive = |v: f64| v.max(0.001);
    let lat_max = s.timeline.iter().map(|t| t.max_ms).fold(0.01, f64::max) * 1.5;
    let lat_min = s.timeline.iter().map(|t| positive(t.p50_ms)).fold(lat_max, f64::min) / 1.5;
    let mut c = ChartBuilder::on(&panels[1])
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .caption("latency per second (ms)", ("sans-serif", 18))
        .build_cartesian_2d(0f64..secs, (lat_min..lat_max).log_scale())
        .map_err(e)?;
    c.configure_mesh().x_desc("second").y_desc("ms").draw().map_err(e)?;
    type Series = (&'static str, RGBColor, fn(&crate::report::SecondSummary) -> f64);
    let series: [Series; 3] = [("p50", BLUE, |t| t.p50_ms), ("p99", RED, |t| t.p99_ms), ("max", BLACK, |t| t.max_ms)];
    for (name, color, f) in series {
        let points = || s.timeline.iter().filter(|t| t.ops > 0).map(move |t| (t.second as f64 + 0.5, positive(f(t))));
        c.draw_series(LineSeries::new(points(), &color))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        c.draw_series(points().map(|p| Circle::new(p, 3, color.filled()))).map_err(e)?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;

    // Percentile curve: x is the number of nines, -log10(1 - q).
    let nines = |q: f64| -(1.0 - q).max(1e-6).log10();
    let points: Vec<(f64, f64)> = s.percentiles.iter().map(|(q, v)| (nines(*q), positive(*v))).collect();
    let x_max = points.iter().map(|p| p.0).fold(2.0, f64::max).ceil();
    let y_max = points.iter().map(|p| p.1).fold(0.01, f64::max) * 1.5;
    let y_min = points.iter().map(|p| p.1).fold(y_max, f64::min) / 1.5;
    let mut c = ChartBuilder::on(&panels[2])
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .caption("latency by percentile (ms)", ("sans-serif", 18))
        .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
        .map_err(e)?;
    c.configure_mesh()
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&|x| format!("{}%", trim(100.0 * (1.0 - 10f64.powf(-x)))))
        .x_desc("percentile")
        .y_desc("ms")
        .draw()
        .map_err(e)?;
    c.draw_series(LineSeries::new(points, &RED)).map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// 99.900000 -> "99.9", 0 -> "0".
fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
