//! Metric families: the owned model events are grouped into.
//!
//! For the text format the grouping is exactly `expfmt`'s (and so prom2json's): a family is
//! found by name, `_count`/`_sum`/`_bucket` samples join a summary or histogram family declared
//! before them, summary and histogram lines with the same labels (apart from `quantile`/`le`)
//! form one metric, and families without samples are dropped. For OpenMetrics the family is the
//! one the preceding metadata declared, sample names must carry the suffixes its type allows,
//! and families must not be interleaved. Either way each sample costs one hash lookup at most.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::error::{ErrorKind, ParseError};
use crate::parser::{Event, Label, Sample, Span};
use crate::{Format, Limits, MetricType, number};

/// One label of a [`Labels`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelPair<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// The labels of a series, owned, in the order they were written. All names and values share one
/// string (two allocations per series however many labels it has: building the family model is
/// dominated by allocation).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    /// name0 value0 name1 value1 … concatenated.
    text: Box<str>,
    /// End offset in `text` of each name and each value.
    ends: Box<[usize]>,
}

impl Labels {
    /// Labels from `(name, value)` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
        let mut text = String::new();
        let mut ends = Vec::new();
        for (name, value) in pairs {
            text.push_str(name);
            ends.push(text.len());
            text.push_str(value);
            ends.push(text.len());
        }
        Labels {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    fn from_parsed(labels: &[Label<'_>], skip: Option<&str>) -> Labels {
        let kept = || labels.iter().filter(move |l| Some(l.name) != skip);
        let length: usize = kept().map(|l| l.name.len() + l.value.len()).sum();
        let mut text = String::with_capacity(length);
        let mut ends = Vec::with_capacity(2 * kept().count());
        for label in kept() {
            text.push_str(label.name);
            ends.push(text.len());
            text.push_str(&label.value);
            ends.push(text.len());
        }
        Labels {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The labels in written order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = LabelPair<'_>> + '_ {
        self.ends.chunks_exact(2).enumerate().map(move |(i, ends)| {
            let start = if i == 0 { 0 } else { self.ends[2 * i - 1] };
            LabelPair {
                name: &self.text[start..ends[0]],
                value: &self.text[ends[0]..ends[1]],
            }
        })
    }

    /// The value of a label, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|l| (l.name, l.value)))
            .finish()
    }
}

/// A metric family: every series sharing a name, type and help.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    pub help: Option<String>,
    /// `# UNIT` (OpenMetrics only).
    pub unit: Option<String>,
    pub metric_type: MetricType,
    pub metrics: Vec<Metric>,
    /// The format it was parsed from (sample names differ: OpenMetrics counters end in `_total`).
    pub format: Format,
}

impl MetricFamily {
    /// The name this family's samples carry in a text-format exposition (`foo_total` for an
    /// OpenMetrics counter `foo`, `foo_info` for an info metric).
    pub fn exposed_name(&self) -> String {
        match (self.format, self.metric_type) {
            (Format::OpenMetrics, MetricType::Counter) => format!("{}_total", self.name),
            (Format::OpenMetrics, MetricType::Info) => format!("{}_info", self.name),
            _ => self.name.clone(),
        }
    }
}

/// One series (one label set) of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub labels: Labels,
    pub timestamp_ms: Option<i64>,
    pub value: MetricValue,
    /// OpenMetrics `_created`, seconds since the epoch.
    pub created_seconds: Option<f64>,
    /// OpenMetrics exemplar of a counter.
    pub exemplar: Option<Exemplar>,
}

impl Metric {
    /// The value of a label, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name)
    }
}

/// What a series measures.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// Counter, gauge, untyped, state set or info: one number.
    Single(f64),
    Summary(Summary),
    /// Histogram or gauge histogram.
    Histogram(Histogram),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// As written (prom2json prints it converted to an unsigned integer, as Go does).
    pub count: f64,
    pub sum: f64,
    pub quantiles: Vec<Quantile>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantile {
    pub quantile: f64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// As written (prom2json prints it converted to an unsigned integer, as Go does).
    pub count: f64,
    pub sum: f64,
    /// In the order they were written; counts are cumulative.
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub upper_bound: f64,
    pub cumulative_count: f64,
    pub exemplar: Option<Exemplar>,
}

/// An OpenMetrics exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_seconds: Option<f64>,
}

/// Which part of a family a sample fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Value,
    Count,
    Sum,
    Bucket,
    Quantile,
    Created,
}

struct FamilyState {
    family: MetricFamily,
    /// `None` until a TYPE line or the first sample fixes it.
    metric_type: Option<MetricType>,
    /// Summary/histogram/counter series by label-set hash (apart from `le`/`quantile`).
    series: HashMap<u64, SeriesSlot>,
}

/// Metric indices sharing one hash; almost always one.
enum SeriesSlot {
    One(usize),
    Many(Vec<usize>),
}

/// Groups events into families.
pub struct FamilyBuilder {
    format: Format,
    limits: Limits,
    families: Vec<FamilyState>,
    by_name: HashMap<Box<str>, usize>,
    hasher: std::collections::hash_map::RandomState,
    /// The last sample name resolved, and what it resolved to (consecutive samples of a family
    /// skip the hash lookup).
    last_name: String,
    last_resolved: Option<(usize, Role)>,
    /// OpenMetrics: the family the latest line belongs to.
    current: Option<usize>,
}

impl FamilyBuilder {
    pub fn new(format: Format, limits: Limits) -> Self {
        FamilyBuilder {
            format,
            limits,
            families: Vec::new(),
            by_name: HashMap::new(),
            hasher: Default::default(),
            last_name: String::new(),
            last_resolved: None,
            current: None,
        }
    }

    /// Add one event.
    pub fn push(&mut self, event: &Event<'_, '_>) -> Result<(), ParseError> {
        match self.format {
            Format::Text => self.push_text(event),
            Format::OpenMetrics => self.push_openmetrics(event),
        }
    }

    /// The families, in the order they were first named.
    pub fn finish(self) -> Vec<MetricFamily> {
        let format = self.format;
        self.families
            .into_iter()
            .filter(|state| format == Format::OpenMetrics || !state.family.metrics.is_empty())
            .map(|mut state| {
                state.family.metric_type = state.metric_type.unwrap_or(MetricType::Untyped);
                state.family
            })
            .collect()
    }

    fn create_family(&mut self, name: &str, span: &Span<'_>) -> Result<usize, ParseError> {
        if self.families.len() >= self.limits.max_families {
            return Err(span.error_at(
                0,
                ErrorKind::TooManyFamilies {
                    limit: self.limits.max_families,
                },
            ));
        }
        let index = self.families.len();
        self.families.push(FamilyState {
            family: MetricFamily {
                name: name.to_string(),
                help: None,
                unit: None,
                metric_type: MetricType::Untyped,
                metrics: Vec::new(),
                format: self.format,
            },
            metric_type: None,
            series: HashMap::new(),
        });
        self.by_name.insert(name.into(), index);
        Ok(index)
    }

    // ----- text format: expfmt's rules -----

    /// expfmt's setOrCreateCurrentMF: the family named so, else the summary/histogram this is a
    /// `_count`/`_sum`/`_bucket` of, else a new family.
    fn resolve_text(&mut self, name: &str, span: &Span<'_>) -> Result<(usize, Role), ParseError> {
        if let Some(resolved) = self.last_resolved
            && self.last_name == name
        {
            return Ok(resolved);
        }
        let resolved = self.resolve_text_uncached(name, span)?;
        self.last_name.clear();
        self.last_name.push_str(name);
        self.last_resolved = Some(resolved);
        Ok(resolved)
    }

    fn resolve_text_uncached(
        &mut self,
        name: &str,
        span: &Span<'_>,
    ) -> Result<(usize, Role), ParseError> {
        if let Some(&index) = self.by_name.get(name) {
            return Ok((index, Role::Value));
        }
        let suffixed = |suffix: &str| name.len() > suffix.len() && name.ends_with(suffix);
        let (base, role) = if suffixed("_count") {
            (&name[..name.len() - 6], Role::Count)
        } else if suffixed("_sum") {
            (&name[..name.len() - 4], Role::Sum)
        } else if suffixed("_bucket") {
            (&name[..name.len() - 7], Role::Value)
        } else {
            ("", Role::Value)
        };
        if !base.is_empty()
            && let Some(&index) = self.by_name.get(base)
        {
            let family_type = self.families[index].metric_type;
            let joins = match role {
                Role::Count | Role::Sum => {
                    matches!(
                        family_type,
                        Some(MetricType::Summary | MetricType::Histogram)
                    )
                }
                _ => family_type == Some(MetricType::Histogram),
            };
            if joins {
                return Ok((index, role));
            }
        }
        Ok((self.create_family(name, span)?, Role::Value))
    }

    fn push_text(&mut self, event: &Event<'_, '_>) -> Result<(), ParseError> {
        match event {
            Event::Help { name, text, span } => {
                let (index, _) = self.resolve_text(name, span)?;
                if let Some(text) = text {
                    let family = &mut self.families[index].family;
                    if family.help.is_some() {
                        return Err(span.error_at(
                            0,
                            ErrorKind::DuplicateHelp {
                                family: family.name.clone(),
                            },
                        ));
                    }
                    family.help = Some(text.to_string());
                }
                Ok(())
            }
            Event::Type {
                name,
                metric_type,
                span,
            } => {
                let (index, _) = self.resolve_text(name, span)?;
                if let Some(metric_type) = metric_type {
                    let state = &mut self.families[index];
                    if state.metric_type.is_some() {
                        return Err(span.error_at(
                            0,
                            ErrorKind::DuplicateType {
                                family: state.family.name.clone(),
                            },
                        ));
                    }
                    state.metric_type = Some(*metric_type);
                }
                Ok(())
            }
            Event::Sample(sample) => {
                let (index, role) = self.resolve_text(sample.name, &sample.span)?;
                let metric_type = *self.families[index]
                    .metric_type
                    .get_or_insert(MetricType::Untyped);
                let role = match (metric_type, role) {
                    (MetricType::Summary | MetricType::Histogram, Role::Count | Role::Sum) => role,
                    (MetricType::Summary, _) => Role::Quantile,
                    (MetricType::Histogram, _) => Role::Bucket,
                    _ => Role::Value,
                };
                self.add_sample(index, metric_type, role, sample)
            }
            // Neither appears in the text format.
            Event::Unit { .. } | Event::Eof { .. } => Ok(()),
        }
    }

    // ----- OpenMetrics -----

    fn openmetrics_family_for_metadata(
        &mut self,
        name: &str,
        keyword: &'static str,
        span: &Span<'_>,
    ) -> Result<usize, ParseError> {
        if let Some(current) = self.current
            && self.families[current].family.name == name
        {
            if !self.families[current].family.metrics.is_empty() {
                return Err(span.error_at(
                    0,
                    ErrorKind::MetadataAfterSamples {
                        keyword,
                        family: name.to_string(),
                    },
                ));
            }
            return Ok(current);
        }
        if self.by_name.contains_key(name) {
            return Err(span.error_at(
                0,
                ErrorKind::InterleavedFamily {
                    family: name.to_string(),
                },
            ));
        }
        let index = self.create_family(name, span)?;
        self.current = Some(index);
        Ok(index)
    }

    fn push_openmetrics(&mut self, event: &Event<'_, '_>) -> Result<(), ParseError> {
        match event {
            Event::Help { name, text, span } => {
                let index = self.openmetrics_family_for_metadata(name, "HELP", span)?;
                let family = &mut self.families[index].family;
                if family.help.is_some() {
                    return Err(span.error_at(
                        0,
                        ErrorKind::DuplicateHelp {
                            family: family.name.clone(),
                        },
                    ));
                }
                family.help = Some(text.as_deref().unwrap_or_default().to_string());
                Ok(())
            }
            Event::Type {
                name,
                metric_type,
                span,
            } => {
                let index = self.openmetrics_family_for_metadata(name, "TYPE", span)?;
                let state = &mut self.families[index];
                if state.metric_type.is_some() {
                    return Err(span.error_at(
                        0,
                        ErrorKind::DuplicateType {
                            family: state.family.name.clone(),
                        },
                    ));
                }
                state.metric_type = *metric_type;
                Ok(())
            }
            Event::Unit { name, unit, span } => {
                let index = self.openmetrics_family_for_metadata(name, "UNIT", span)?;
                let family = &mut self.families[index].family;
                if family.unit.is_some() {
                    return Err(span.error_at(
                        0,
                        ErrorKind::DuplicateUnit {
                            family: family.name.clone(),
                        },
                    ));
                }
                if !unit.is_empty()
                    && !name
                        .strip_suffix(unit)
                        .is_some_and(|base| base.ends_with('_'))
                {
                    return Err(span.error_at(
                        0,
                        ErrorKind::UnitNotSuffix {
                            unit: unit.to_string(),
                            family: name.to_string(),
                        },
                    ));
                }
                family.unit = Some(unit.to_string());
                Ok(())
            }
            Event::Sample(sample) => {
                let (index, role) = self.resolve_openmetrics(sample)?;
                let metric_type = *self.families[index]
                    .metric_type
                    .get_or_insert(MetricType::Untyped);
                if sample.exemplar.is_some() {
                    let allowed = matches!(
                        (metric_type, role),
                        (MetricType::Counter, Role::Value)
                            | (
                                MetricType::Histogram | MetricType::GaugeHistogram,
                                Role::Bucket
                            )
                    );
                    if !allowed {
                        return Err(sample.span.error_at(
                            0,
                            ErrorKind::ExemplarNotAllowed {
                                sample: sample.name.to_string(),
                            },
                        ));
                    }
                }
                self.add_sample(index, metric_type, role, sample)
            }
            Event::Eof { .. } => {
                self.current = None;
                Ok(())
            }
        }
    }

    fn resolve_openmetrics(
        &mut self,
        sample: &Sample<'_, '_>,
    ) -> Result<(usize, Role), ParseError> {
        let name = sample.name;
        if let Some(current) = self.current {
            let state = &self.families[current];
            let family_name = state.family.name.as_str();
            let metric_type = state.metric_type.unwrap_or(MetricType::Untyped);
            if let Some(suffix) = name.strip_prefix(family_name)
                && (suffix.is_empty() || suffix.starts_with('_'))
            {
                let allowed = openmetrics_suffixes(metric_type);
                if let Some(&(_, role)) = allowed.iter().find(|(s, _)| *s == suffix) {
                    return Ok((current, role));
                }
                // An untyped family only ever holds its own name; anything else starts a family.
                if metric_type != MetricType::Untyped || suffix.is_empty() {
                    let allowed = allowed
                        .iter()
                        .map(|(s, _)| format!("{family_name}{s}"))
                        .collect::<Vec<_>>();
                    return Err(sample.span.error_at(
                        0,
                        ErrorKind::SampleNameNotInFamily {
                            sample: name.to_string(),
                            family: family_name.to_string(),
                            type_name: metric_type.as_str(),
                            allowed: allowed.join(", "),
                        },
                    ));
                }
            }
        }
        if self.by_name.contains_key(name) {
            return Err(sample.span.error_at(
                0,
                ErrorKind::InterleavedFamily {
                    family: name.to_string(),
                },
            ));
        }
        let index = self.create_family(name, &sample.span)?;
        self.current = Some(index);
        Ok((index, Role::Value))
    }

    // ----- shared: filling metrics -----

    fn add_sample(
        &mut self,
        index: usize,
        metric_type: MetricType,
        role: Role,
        sample: &Sample<'_, '_>,
    ) -> Result<(), ParseError> {
        let span = &sample.span;
        let family_name = &self.families[index].family.name;
        let bound_label = match metric_type {
            MetricType::Summary => Some("quantile"),
            MetricType::Histogram | MetricType::GaugeHistogram => Some("le"),
            _ => None,
        };
        check_duplicate_labels(sample, bound_label, family_name)?;
        // Parse `le`/`quantile` whatever the role, as expfmt does (an invalid one is an error even
        // on a `_count` line); the last one wins.
        let mut bound = None;
        if let Some(bound_name) = bound_label {
            for label in sample.labels.iter().filter(|l| l.name == bound_name) {
                let value = number::parse_float(label.value.as_bytes()).ok_or_else(|| {
                    span.error_at(
                        label.index as usize,
                        ErrorKind::InvalidBoundLabel {
                            label: bound_name,
                            value: label.value.to_string(),
                        },
                    )
                })?;
                bound = Some(value);
            }
        }
        if self.format == Format::OpenMetrics
            && matches!(role, Role::Bucket | Role::Quantile)
            && let (None, Some(label)) = (bound, bound_label)
        {
            return Err(span.error_at(
                0,
                ErrorKind::MissingBoundLabel {
                    sample: sample.name.to_string(),
                    label,
                },
            ));
        }
        if metric_type == MetricType::GaugeHistogram && self.format == Format::Text {
            return Err(span.error_at(
                0,
                ErrorKind::UnsupportedType {
                    family: family_name.clone(),
                    type_name: "GAUGE_HISTOGRAM",
                },
            ));
        }

        let grouped = matches!(
            metric_type,
            MetricType::Summary | MetricType::Histogram | MetricType::GaugeHistogram
        ) || (metric_type == MetricType::Counter
            && self.format == Format::OpenMetrics);
        let metric_index = if grouped {
            self.find_or_create_series(index, metric_type, bound_label, sample)
        } else {
            let family = &mut self.families[index].family;
            family.metrics.push(Metric {
                labels: owned_labels(sample.labels, None),
                timestamp_ms: None,
                value: MetricValue::Single(0.0),
                created_seconds: None,
                exemplar: None,
            });
            family.metrics.len() - 1
        };
        let metric = &mut self.families[index].family.metrics[metric_index];
        if sample.timestamp_ms.is_some() {
            metric.timestamp_ms = sample.timestamp_ms;
        }
        let exemplar = sample.exemplar.as_ref().map(|e| Exemplar {
            labels: owned_labels(e.labels, None),
            value: e.value,
            timestamp_seconds: e.timestamp_seconds,
        });
        match (&mut metric.value, role) {
            (_, Role::Created) => metric.created_seconds = Some(sample.value),
            (MetricValue::Single(value), _) => {
                *value = sample.value;
                if exemplar.is_some() {
                    metric.exemplar = exemplar;
                }
            }
            (MetricValue::Summary(summary), Role::Count) => summary.count = sample.value,
            (MetricValue::Summary(summary), Role::Sum) => summary.sum = sample.value,
            (MetricValue::Summary(summary), _) => {
                // expfmt ignores a quantile of NaN, and lines without one.
                if let Some(quantile) = bound.filter(|q| !q.is_nan()) {
                    summary.quantiles.push(Quantile {
                        quantile,
                        value: sample.value,
                    });
                }
            }
            (MetricValue::Histogram(histogram), Role::Count) => histogram.count = sample.value,
            (MetricValue::Histogram(histogram), Role::Sum) => histogram.sum = sample.value,
            (MetricValue::Histogram(histogram), _) => {
                if let Some(upper_bound) = bound.filter(|b| !b.is_nan()) {
                    histogram.buckets.push(Bucket {
                        upper_bound,
                        cumulative_count: sample.value,
                        exemplar,
                    });
                }
            }
        }
        Ok(())
    }

    fn find_or_create_series(
        &mut self,
        index: usize,
        metric_type: MetricType,
        bound_label: Option<&str>,
        sample: &Sample<'_, '_>,
    ) -> usize {
        let mut key: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .filter(|l| Some(l.name) != bound_label)
            .map(|l| (l.name, l.value.as_ref()))
            .collect();
        key.sort_unstable();
        let hash = self.hasher.hash_one(&key);
        let state = &mut self.families[index];
        let same_labels = |metric: &Metric| {
            metric.labels.len() == key.len()
                && key
                    .iter()
                    .all(|(name, value)| metric.label(name) == Some(*value))
        };
        let found = match state.series.get(&hash) {
            Some(SeriesSlot::One(i)) => same_labels(&state.family.metrics[*i]).then_some(*i),
            Some(SeriesSlot::Many(indices)) => indices
                .iter()
                .copied()
                .find(|&i| same_labels(&state.family.metrics[i])),
            None => None,
        };
        if let Some(found) = found {
            return found;
        }
        let value = match metric_type {
            MetricType::Summary => MetricValue::Summary(Summary::default()),
            MetricType::Histogram | MetricType::GaugeHistogram => {
                MetricValue::Histogram(Histogram::default())
            }
            _ => MetricValue::Single(0.0),
        };
        state.family.metrics.push(Metric {
            labels: owned_labels(sample.labels, bound_label),
            timestamp_ms: None,
            value,
            created_seconds: None,
            exemplar: None,
        });
        let new_index = state.family.metrics.len() - 1;
        match state.series.get_mut(&hash) {
            None => {
                state.series.insert(hash, SeriesSlot::One(new_index));
            }
            Some(slot) => {
                let mut indices = match slot {
                    SeriesSlot::One(i) => vec![*i],
                    SeriesSlot::Many(indices) => std::mem::take(indices),
                };
                indices.push(new_index);
                *slot = SeriesSlot::Many(indices);
            }
        }
        new_index
    }
}

fn openmetrics_suffixes(metric_type: MetricType) -> &'static [(&'static str, Role)] {
    match metric_type {
        MetricType::Counter => &[("_total", Role::Value), ("_created", Role::Created)],
        MetricType::Gauge | MetricType::Untyped | MetricType::StateSet => &[("", Role::Value)],
        MetricType::Info => &[("_info", Role::Value)],
        MetricType::Histogram => &[
            ("_bucket", Role::Bucket),
            ("_count", Role::Count),
            ("_sum", Role::Sum),
            ("_created", Role::Created),
        ],
        MetricType::GaugeHistogram => &[
            ("_bucket", Role::Bucket),
            ("_gcount", Role::Count),
            ("_gsum", Role::Sum),
        ],
        MetricType::Summary => &[
            ("", Role::Quantile),
            ("_count", Role::Count),
            ("_sum", Role::Sum),
            ("_created", Role::Created),
        ],
    }
}

fn owned_labels(labels: &[Label<'_>], skip: Option<&str>) -> Labels {
    Labels::from_parsed(labels, skip)
}

/// Duplicate label names are an error, except the `le`/`quantile` of histograms/summaries (which
/// expfmt does not count). Small label sets are compared pairwise, large ones sorted, so the check
/// stays O(n log n) on hostile input.
fn check_duplicate_labels(
    sample: &Sample<'_, '_>,
    skip: Option<&str>,
    family: &str,
) -> Result<(), ParseError> {
    let labels = sample.labels;
    let duplicate = if labels.len() <= 16 {
        labels.iter().enumerate().find_map(|(i, a)| {
            (Some(a.name) != skip && labels[..i].iter().any(|b| b.name == a.name)).then_some(a)
        })
    } else {
        let mut sorted: Vec<&Label<'_>> = labels.iter().filter(|l| Some(l.name) != skip).collect();
        sorted.sort_unstable_by_key(|l| l.name);
        sorted
            .windows(2)
            .find(|pair| pair[0].name == pair[1].name)
            .map(|pair| pair[1])
    };
    match duplicate {
        Some(label) => Err(sample.span.error_at(
            label.index as usize,
            ErrorKind::DuplicateLabelName {
                metric: family.to_string(),
                label: label.name.to_string(),
            },
        )),
        None => Ok(()),
    }
}
