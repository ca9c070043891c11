//! Charts as data, drawn to SVG by plotters' SVG backend.
//!
//! plotters is built without a font backend: the SVG backend writes text
//! as `<text>` elements with `text-anchor` and leaves the glyphs to the
//! browser, and its naive estimate of text width (about 0.45 em a
//! character) only sizes the label areas, which get room to spare here.
//! Legends are HTML beside the chart (see `page`), not plotters' series
//! labels, whose box sits inside the plot and would cover data.

use std::fmt::Write as _;

use plotters::element::ErrorBar;
use plotters::prelude::*;

/// Width and height of every chart's SVG, in CSS pixels at 100 %.
pub const SIZE: (u32, u32) = (600, 300);

/// Okabe-Ito, a palette readable with every common colour-vision
/// deficiency (yellow left out: too pale on white).
pub const PALETTE: [Colour; 7] = [
    Colour(0x00, 0x72, 0xB2),
    Colour(0xE6, 0x9F, 0x00),
    Colour(0x00, 0x9E, 0x73),
    Colour(0xCC, 0x79, 0xA7),
    Colour(0xD5, 0x5E, 0x00),
    Colour(0x56, 0xB4, 0xE9),
    Colour(0x00, 0x00, 0x00),
];

/// The maximum, drawn thin under the percentiles.
pub const GREY: Colour = Colour(0x99, 0x99, 0x99);

/// The colour of the `i`-th run or series, the same wherever it appears.
pub fn colour(i: usize) -> Colour {
    PALETTE[i % PALETTE.len()]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour(pub u8, pub u8, pub u8);

impl Colour {
    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    fn rgb(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// How a series' points are marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Dot,
    Ring,
    Cross,
}

/// One line (or set of marked points) of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub colour: Colour,
    pub points: Vec<(f64, f64)>,
    /// Joined by a line.
    pub line: bool,
    pub dashed: bool,
    pub marker: Option<Marker>,
    /// Vertical bars (low, high) at the points' x: a spread.
    pub bars: Vec<(f64, f64, f64)>,
    /// Stroke width in pixels.
    pub width: u32,
}

impl Series {
    /// A solid line; points are marked too when there are too few to make
    /// a line (a metric seen in one or two intervals).
    pub fn line(name: impl Into<String>, colour: Colour, points: Vec<(f64, f64)>) -> Series {
        let points: Vec<(f64, f64)> = points
            .into_iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let marker = (points.len() < 3).then_some(Marker::Dot);
        Series {
            name: name.into(),
            colour,
            points,
            line: true,
            dashed: false,
            marker,
            bars: Vec::new(),
            width: 2,
        }
    }

    /// Marked points, no line.
    pub fn points(
        name: impl Into<String>,
        colour: Colour,
        marker: Marker,
        points: Vec<(f64, f64)>,
    ) -> Series {
        let mut s = Series::line(name, colour, points);
        s.line = false;
        s.marker = Some(marker);
        s
    }

    pub fn thin(mut self) -> Series {
        self.width = 1;
        self
    }

    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// A named dashed line across the plot (an SLO limit, the capacity).
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub colour: Colour,
    pub at: At,
}

/// Where a rule crosses.
#[derive(Clone, Copy, Debug)]
pub enum At {
    X(f64),
    Y(f64),
}

impl Rule {
    pub fn new(name: impl Into<String>, colour: Colour, at: At) -> Rule {
        Rule {
            name: name.into(),
            colour,
            at,
        }
    }
}

/// The x axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    Linear,
    /// log10(1/(1-p)) from 0 to 5: 0 %, 90 %, ..., 99.999 %, as
    /// HdrHistogram's percentile plot draws it.
    Percentile,
    /// Integer positions 1..=n named by [`Chart::x_names`].
    Named,
}

/// A chart, before drawing.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_axis: XAxis,
    pub series: Vec<Series>,
    pub rules: Vec<Rule>,
    /// Names for integer x positions (sets of a scaling experiment).
    pub x_names: Vec<String>,
    /// A linear x axis at least this wide (time charts: the runs' span).
    pub x_span: Option<(f64, f64)>,
}

/// The highest percentile axis position: p99.999.
pub const PERCENTILE_MAX_X: f64 = 5.0;

impl Chart {
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_axis: XAxis::Linear,
            series: Vec::new(),
            rules: Vec::new(),
            x_names: Vec::new(),
            x_span: None,
        }
    }

    /// True when some series has a point: a chart without is not drawn.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| !s.points.is_empty())
    }

    /// The SVG, or why plotters could not draw it.
    pub fn svg(&self) -> Result<String, ChartError> {
        let mut out = String::new();
        self.draw(&mut out)
            .map_err(|e| ChartError(format!("{}: {e}", self.title)))?;
        Ok(out)
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.rules.iter().filter_map(|r| match r.at {
                At::X(x) => Some(x),
                At::Y(_) => None,
            }));
        let ys = self
            .series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .map(|p| p.1)
                    .chain(s.bars.iter().map(|b| b.2))
            })
            .chain(self.rules.iter().filter_map(|r| match r.at {
                At::Y(y) => Some(y),
                At::X(_) => None,
            }));
        let (mut x0, mut x1) = bounds(xs);
        if let (XAxis::Linear, Some((a, b))) = (self.x_axis, self.x_span) {
            (x0, x1) = (x0.min(a), x1.max(b));
        }
        let (y0, y1) = bounds(ys);
        let x = match self.x_axis {
            XAxis::Percentile => (0.0, PERCENTILE_MAX_X),
            XAxis::Named => (0.5, x1 + 0.5),
            XAxis::Linear if x0 == x1 => (x0 - 1.0, x1 + 1.0),
            XAxis::Linear => (x0, x1),
        };
        // Latency, rates and counts start at zero so their sizes compare.
        let y0 = y0.min(0.0);
        let y1 = if y1 <= y0 {
            y0 + 1.0
        } else {
            y1 + (y1 - y0) * 0.08
        };
        (x, (y0, y1))
    }

    fn draw(&self, out: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        let ((x0, x1), (y0, y1)) = self.ranges();
        let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 17))
            .margin_top(6)
            .margin_right(34)
            .margin_left(6)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let names = &self.x_names;
        let x_fmt = |v: &f64| match self.x_axis {
            XAxis::Percentile => percentile_label(*v),
            XAxis::Named => {
                let i = v.round();
                if (v - i).abs() > 1e-6 || i < 1.0 {
                    return String::new();
                }
                names.get(i as usize - 1).cloned().unwrap_or_default()
            }
            XAxis::Linear => compact(*v),
        };
        let y_fmt = |v: &f64| compact(*v);
        let x_labels = match self.x_axis {
            XAxis::Percentile => 6,
            XAxis::Named => names.len().max(1) * 2 + 1,
            XAxis::Linear => 8,
        };
        chart
            .configure_mesh()
            .x_labels(x_labels)
            .y_labels(6)
            .max_light_lines(1)
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .axis_style(RGBColor(0x88, 0x88, 0x88))
            .label_style(
                ("sans-serif", 13)
                    .into_font()
                    .color(&RGBColor(0x33, 0x33, 0x33)),
            )
            .axis_desc_style(("sans-serif", 13))
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()?;
        for rule in &self.rules {
            let points = match rule.at {
                At::X(x) => vec![(x, y0), (x, y1)],
                At::Y(y) => vec![(x0, y), (x1, y)],
            };
            let style = rule.colour.rgb().stroke_width(2);
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style))?;
        }
        // The first series is drawn last, on top: lists lead with what
        // matters most (p50 over the max that often equals p99).
        for s in self.series.iter().rev() {
            let style = s.colour.rgb().stroke_width(s.width);
            if s.line && s.points.len() > 1 {
                if s.dashed {
                    chart.draw_series(DashedLineSeries::new(s.points.clone(), 7, 4, style))?;
                } else {
                    chart.draw_series(LineSeries::new(s.points.clone(), style))?;
                }
            }
            for &(x, lo, hi) in &s.bars {
                let mid = (lo + hi) / 2.0;
                let bar = ErrorBar::new_vertical(x, lo, mid, hi, style, 12);
                chart.draw_series(std::iter::once(bar))?;
            }
            let c = s.colour.rgb();
            match s.marker {
                None => {}
                Some(Marker::Dot) => {
                    chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
                }
                Some(Marker::Ring) => {
                    chart.draw_series(
                        s.points
                            .iter()
                            .map(|&p| Circle::new(p, 5, c.stroke_width(2))),
                    )?;
                }
                Some(Marker::Cross) => {
                    chart.draw_series(
                        s.points
                            .iter()
                            .map(|&p| Cross::new(p, 5, c.stroke_width(2))),
                    )?;
                }
            }
        }
        root.present()?;
        Ok(())
    }
}

/// plotters failed to draw a chart (it does not, for finite data).
#[derive(Debug, thiserror::Error)]
#[error("chart not drawn: {0}")]
pub struct ChartError(String);

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 1.0))
}

/// The percentile of an axis position: x = log10(1/(1-p)).
pub fn percentile_at(x: f64) -> f64 {
    1.0 - 10f64.powf(-x)
}

/// `0%`, `90%`, ... `99.999%` at whole positions; nothing between.
fn percentile_label(x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || !(0.0..=PERCENTILE_MAX_X).contains(&i) {
        return String::new();
    }
    match i as u32 {
        0 => "0%",
        1 => "90%",
        2 => "99%",
        3 => "99.9%",
        4 => "99.99%",
        _ => "99.999%",
    }
    .into()
}

/// A tick value in at most 4 significant characters: `0.25`, `12`,
/// `1.5k`, `2M`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let a = scaled.abs();
    let mut s = String::new();
    let _ = if a == 0.0 {
        write!(s, "0")
    } else if a >= 100.0 {
        write!(s, "{scaled:.0}")
    } else if a >= 10.0 {
        write!(s, "{scaled:.1}")
    } else if a >= 1.0 {
        write!(s, "{scaled:.2}")
    } else {
        write!(s, "{scaled:.3}")
    };
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s + suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels() {
        let labels: Vec<String> = (0..=5).map(|i| percentile_label(i as f64)).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
        assert_eq!(percentile_label(2.5), "");
        assert!((percentile_at(2.0) - 0.99).abs() < 1e-12);
    }

    #[test]
    fn compact_ticks() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(12.0), "12");
        assert_eq!(compact(2.5), "2.5");
        assert_eq!(compact(15000.0), "15k");
        assert_eq!(compact(2_000_000.0), "2M");
    }

    #[test]
    fn a_chart_draws_svg_with_its_text() {
        let mut c = Chart::new("rest.me latency (ms)", "s since start", "ms");
        c.series.push(Series::line(
            "p99",
            colour(0),
            vec![(1.0, 2.0), (2.0, 3.0), (3.0, f64::NAN)],
        ));
        assert!(c.has_data());
        let svg = c.svg().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("rest.me latency (ms)"));
        assert!(svg.contains("<polyline"), "{svg}");
        let empty = Chart::new("nothing", "s", "ms");
        assert!(!empty.has_data());
    }
}
