//! Reports (DESIGN.md section 8): per developer and UTC month, one row per
//! (date, app) with the sign-in funnel's daily counts, as CSV and as SVG
//! charts. Read from the daily aggregates (`metric_daily`, maintained by
//! `store::metric_daily` in the transaction of each new raw event), so a
//! month of a busy developer is one small query.
//!
//! Decisions:
//! - **Complete calendar**: every app the developer has gets a row for every
//!   day of the month, with zeros on days without events (charts need no gap
//!   filling; a spreadsheet sums columns directly).
//! - **Order**: by date, then app name, then app id.
//! - **No personal data**: a row names only the app (`app_id` is the app's
//!   public id, `app_…`, as the console shows it; `app_name` its display
//!   name). No account, device, link or partner user id is ever read.
//! - **Days are UTC**: an event belongs to the day of its `occurred_at`
//!   (the app's `timestamp`, or the server's time for `ENABLE_SSI` and
//!   `CONSENT_DENIED`), `occurred_at / 86 400 000`.
//! - Apps deleted by their developer disappear from the reports (their
//!   aggregates stay in the table, unreachable).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use ssi_proto::{FailureReason, InternalEvent, SsiEvent};
use thiserror::Error;

use crate::admin::Progress;
use crate::domain::accounts::civil_from_days;
use crate::store::{Store, StoreError};

/// Milliseconds in a UTC day (no leap seconds in Unix time).
pub const DAY_MS: i64 = 86_400_000;
/// Months and dates: years from this one…
pub const MIN_YEAR: i64 = 1970;
/// …to this one.
pub const MAX_YEAR: i64 = 9999;

/// The CSV header (DESIGN.md section 8), in column order.
pub const CSV_HEADER: [&str; 13] = [
    "date",
    "app_id",
    "app_name",
    "links_created",
    "consent_denied",
    "login_success",
    "login_failure",
    "login_failure_unauthorized",
    "login_failure_bad_request",
    "login_failure_not_found",
    "login_failure_forbidden",
    "login_failure_internal_server_error",
    "manual_signin_selected",
];

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(
        "month: expected YYYY-MM with a year {MIN_YEAR}-{MAX_YEAR} and a month 01-12, got {0:?}"
    )]
    Month(String),
    #[error(
        "date: expected YYYY-MM-DD, a real calendar day in the years {MIN_YEAR}-{MAX_YEAR}, got {0:?}"
    )]
    Date(String),
    #[error("month range: the first month {first} is after the last month {last}")]
    MonthRange { first: Month, last: Month },
    #[error("date range: the first day {first} is after the last day {last}")]
    DateRange { first: UtcDate, last: UtcDate },
    #[error("no developer account {0}")]
    NoSuchDeveloper(String),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A UTC calendar day, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate(i64);

impl UtcDate {
    /// The day `epoch_day` days after 1970-01-01 (the aggregates' `day`).
    pub fn from_epoch_day(epoch_day: i64) -> Self {
        Self(epoch_day)
    }

    /// The UTC day of an instant (epoch ms).
    pub fn containing(epoch_ms: i64) -> Self {
        Self(epoch_ms.div_euclid(DAY_MS))
    }

    /// A valid calendar day, or `None`.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Self> {
        let month_of_year = Month::new(year, month).ok()?;
        (1..=month_of_year.day_count())
            .contains(&day)
            .then(|| Self(days_from_civil(year, i64::from(month), i64::from(day))))
    }

    pub fn epoch_day(self) -> i64 {
        self.0
    }

    /// The first millisecond of the day.
    pub fn start_ms(self) -> i64 {
        self.0 * DAY_MS
    }

    /// (year, month 1-12, day 1-31).
    pub fn ymd(self) -> (i64, u32, u32) {
        let (year, month, day) = civil_from_days(self.0);
        // civil_from_days returns month 1-12 and day 1-31.
        (year, month as u32, day as u32)
    }

    pub fn month(self) -> Month {
        let (year, month, _) = self.ymd();
        Month { year, month }
    }

    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for UtcDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl FromStr for UtcDate {
    type Err = ReportError;

    /// `YYYY-MM-DD`, exactly.
    fn from_str(text: &str) -> Result<Self, ReportError> {
        let invalid = || ReportError::Date(echo(text));
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[7] != b'-' {
            return Err(invalid());
        }
        let month: Month = text[..7].parse().map_err(|_| invalid())?;
        let day = digits(&text[8..]).ok_or_else(invalid)?;
        Self::from_ymd(month.year, month.month, day).ok_or_else(invalid)
    }
}

/// A UTC calendar month, `YYYY-MM`, years 1970-9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i64,
    month: u32,
}

impl Month {
    /// `month` is 1-12.
    pub fn new(year: i64, month: u32) -> Result<Self, ReportError> {
        if (MIN_YEAR..=MAX_YEAR).contains(&year) && (1..=12).contains(&month) {
            Ok(Self { year, month })
        } else {
            Err(ReportError::Month(format!("{year:04}-{month:02}")))
        }
    }

    /// The UTC month of an instant (epoch ms), e.g. the current month.
    pub fn containing(epoch_ms: i64) -> Self {
        UtcDate::containing(epoch_ms).month()
    }

    pub fn year(self) -> i64 {
        self.year
    }

    /// 1-12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// Days in the month: 28-31 (Gregorian leap years).
    pub fn day_count(self) -> u32 {
        match self.month {
            2 if is_leap_year(self.year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    pub fn first_day(self) -> UtcDate {
        UtcDate(days_from_civil(self.year, i64::from(self.month), 1))
    }

    /// The first day of the next month (exclusive end of this one).
    pub fn end_day(self) -> UtcDate {
        UtcDate(self.first_day().0 + i64::from(self.day_count()))
    }

    /// Every day of the month, in order.
    pub fn days(self) -> impl Iterator<Item = UtcDate> {
        (self.first_day().0..self.end_day().0).map(UtcDate)
    }

    /// The next month (December → January of the next year). May be year
    /// 10000, which only serves as an exclusive end.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// `first..=last`, in order; an error when `first` is after `last`.
    pub fn range(first: Self, last: Self) -> Result<Vec<Self>, ReportError> {
        if first > last {
            return Err(ReportError::MonthRange { first, last });
        }
        let mut months = vec![first];
        while let Some(&month) = months.last().filter(|m| **m < last) {
            months.push(month.next());
        }
        Ok(months)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = ReportError;

    /// `YYYY-MM`, exactly (`2026-02`, not `2026-2`).
    fn from_str(text: &str) -> Result<Self, ReportError> {
        let invalid = || ReportError::Month(echo(text));
        if text.len() != 7 || text.as_bytes()[4] != b'-' {
            return Err(invalid());
        }
        let year = digits(&text[..4]).ok_or_else(invalid)?;
        let month = digits(&text[5..]).ok_or_else(invalid)?;
        Self::new(i64::from(year), month).map_err(|_| invalid())
    }
}

/// ASCII digits only (no sign, no spaces).
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// At most 32 characters of a refused value go into an error.
fn echo(text: &str) -> String {
    text.chars().take(32).collect()
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Howard Hinnant's `days_from_civil`: (y, m, d) → days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One day's counts of one app: the numeric columns of the CSV.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyCounts {
    /// `ENABLE_SSI`: links the owner allowed.
    pub links_created: i64,
    /// `CONSENT_DENIED`: "Not now" on the consent screen.
    pub consent_denied: i64,
    pub login_success: i64,
    /// Every `LOGIN_FAILURE`: the sum of the five reasons below.
    pub login_failure: i64,
    pub login_failure_unauthorized: i64,
    pub login_failure_bad_request: i64,
    pub login_failure_not_found: i64,
    pub login_failure_forbidden: i64,
    pub login_failure_internal_server_error: i64,
    pub manual_signin_selected: i64,
}

impl DailyCounts {
    /// The counts' column names, in CSV order (also the `metric_daily` columns).
    pub const COLUMNS: [&'static str; 10] = [
        "links_created",
        "consent_denied",
        "login_success",
        "login_failure",
        "login_failure_unauthorized",
        "login_failure_bad_request",
        "login_failure_not_found",
        "login_failure_forbidden",
        "login_failure_internal_server_error",
        "manual_signin_selected",
    ];

    /// The values, in the order of [`DailyCounts::COLUMNS`].
    pub fn values(&self) -> [i64; 10] {
        [
            self.links_created,
            self.consent_denied,
            self.login_success,
            self.login_failure,
            self.login_failure_unauthorized,
            self.login_failure_bad_request,
            self.login_failure_not_found,
            self.login_failure_forbidden,
            self.login_failure_internal_server_error,
            self.manual_signin_selected,
        ]
    }

    /// From values in the order of [`DailyCounts::COLUMNS`].
    pub fn from_values(v: [i64; 10]) -> Self {
        Self {
            links_created: v[0],
            consent_denied: v[1],
            login_success: v[2],
            login_failure: v[3],
            login_failure_unauthorized: v[4],
            login_failure_bad_request: v[5],
            login_failure_not_found: v[6],
            login_failure_forbidden: v[7],
            login_failure_internal_server_error: v[8],
            manual_signin_selected: v[9],
        }
    }

    /// The counts of one stored event (`metric_events.event` and
    /// `failure_reason`, canonical spellings). An unknown event counts
    /// nowhere (the same rule as the recomputation's SQL).
    pub fn of_event(event: &str, failure_reason: Option<&str>) -> Self {
        let mut counts = Self::default();
        if let Ok(internal) = event.parse::<InternalEvent>() {
            match internal {
                InternalEvent::EnableSsi => counts.links_created = 1,
                InternalEvent::ConsentDenied => counts.consent_denied = 1,
            }
        } else if let Ok(app_event) = event.parse::<SsiEvent>() {
            match app_event {
                SsiEvent::LoginSuccess => counts.login_success = 1,
                SsiEvent::ManualSigninSelected => counts.manual_signin_selected = 1,
                SsiEvent::LoginFailure => {
                    counts.login_failure = 1;
                    match failure_reason.map(str::parse::<FailureReason>) {
                        Some(Ok(FailureReason::Unauthorized)) => {
                            counts.login_failure_unauthorized = 1;
                        }
                        Some(Ok(FailureReason::BadRequest)) => {
                            counts.login_failure_bad_request = 1;
                        }
                        Some(Ok(FailureReason::NotFound)) => counts.login_failure_not_found = 1,
                        Some(Ok(FailureReason::Forbidden)) => counts.login_failure_forbidden = 1,
                        Some(Ok(FailureReason::InternalServerError)) => {
                            counts.login_failure_internal_server_error = 1;
                        }
                        // Validation refuses a failure without a known reason.
                        Some(Err(_)) | None => {}
                    }
                }
            }
        }
        counts
    }

    pub fn add(&mut self, other: &Self) {
        let sum = std::array::from_fn(|i| self.values()[i] + other.values()[i]);
        *self = Self::from_values(sum);
    }

    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|&v| v == 0)
    }
}

/// One day's aggregate of one app, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyAggregate {
    pub app_id: String,
    pub day: UtcDate,
    pub counts: DailyCounts,
}

/// One row of the monthly report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub date: UtcDate,
    /// The app's id (`app_…`).
    pub app_id: String,
    /// The app's display name now.
    pub app_name: String,
    pub counts: DailyCounts,
}

/// The report of `developer_id` for `month`: every app of the developer on
/// every day of the month (zeros where nothing happened), ordered by date,
/// app name, app id. A developer without apps gets no rows.
pub async fn monthly_rows(
    store: &Store,
    developer_id: &str,
    month: Month,
) -> Result<Vec<ReportRow>, ReportError> {
    let apps = store.report_apps(developer_id).await?;
    let aggregates = store
        .developer_daily_aggregates(developer_id, month.first_day(), month.end_day())
        .await?;
    let mut by_key: HashMap<(&str, UtcDate), DailyCounts> = aggregates
        .iter()
        .map(|a| ((a.app_id.as_str(), a.day), a.counts))
        .collect();
    let mut apps = apps;
    apps.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    let mut rows = Vec::with_capacity(apps.len() * month.day_count() as usize);
    for date in month.days() {
        for (app_id, app_name) in &apps {
            rows.push(ReportRow {
                date,
                app_id: app_id.clone(),
                app_name: app_name.clone(),
                counts: by_key.remove(&(app_id.as_str(), date)).unwrap_or_default(),
            });
        }
    }
    Ok(rows)
}

/// A developer named by account id or e-mail (with an `@`); returns the
/// account id. Accounts that are not developers are refused alike.
pub async fn find_developer(store: &Store, id_or_email: &str) -> Result<String, ReportError> {
    let account = if id_or_email.contains('@') {
        match crate::domain::accounts::normalize_email(id_or_email) {
            Ok(email) => store.find_account_by_email(&email).await?,
            Err(_) => None,
        }
    } else {
        store.find_account(id_or_email).await?
    };
    match account {
        Some(account) if account.is_developer => Ok(account.id),
        _ => Err(ReportError::NoSuchDeveloper(echo(id_or_email))),
    }
}

/// What [`recompute_aggregates`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecomputeSummary {
    pub days: u64,
    /// (app, day) aggregate rows written.
    pub rows: u64,
}

/// Rebuilds the daily aggregates of the days `first..=last` from the raw
/// events, one transaction per day (see `store::metric_daily`); safe while
/// servers ingest. `progress` hears of each day.
pub async fn recompute_aggregates(
    store: &Store,
    first: UtcDate,
    last: UtcDate,
    progress: &mut (dyn Progress + Send),
) -> Result<RecomputeSummary, ReportError> {
    if first > last {
        return Err(ReportError::DateRange { first, last });
    }
    let days = u64::try_from(last.epoch_day() - first.epoch_day() + 1).unwrap_or(0);
    progress.start(days);
    let mut rows = 0;
    let mut day = first;
    while day <= last {
        rows += store.recompute_daily_aggregates(day).await?;
        progress.advance(1);
        day = day.next();
    }
    progress.finish();
    Ok(RecomputeSummary { days, rows })
}

/// Writes report rows as CSV (UTF-8, RFC 4180 quoting, lines end with LF),
/// the header first.
/// Several months can be written one after the other with [`CsvReport::write_rows`].
pub struct CsvReport<W: std::io::Write> {
    writer: csv::Writer<W>,
}

impl<W: std::io::Write> CsvReport<W> {
    /// Starts the CSV with its header row.
    pub fn new(out: W) -> Result<Self, ReportError> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(out);
        writer.write_record(CSV_HEADER)?;
        Ok(Self { writer })
    }

    pub fn write_rows(&mut self, rows: &[ReportRow]) -> Result<(), ReportError> {
        for row in rows {
            let date = row.date.to_string();
            let name = spreadsheet_safe(&row.app_name);
            let counts = row.counts.values().map(|v| v.to_string());
            let mut record: Vec<&str> = vec![&date, &row.app_id, &name];
            record.extend(counts.iter().map(String::as_str));
            self.writer.write_record(&record)?;
        }
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> Result<W, ReportError> {
        self.writer
            .into_inner()
            .map_err(|e| ReportError::Csv(csv::Error::from(e.into_error())))
    }
}

/// The whole CSV of `rows`, header first.
pub fn render_csv(rows: &[ReportRow]) -> Result<String, ReportError> {
    let mut report = CsvReport::new(Vec::new())?;
    report.write_rows(rows)?;
    let bytes = report.finish()?;
    // Only `&str` cells went in.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The download's file name: `ssi-report-2026-11.csv`.
pub fn csv_file_name(month: Month) -> String {
    format!("ssi-report-{month}.csv")
}

/// A text cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`,
/// tab, carriage return first) gets a leading `'` (OWASP "CSV injection").
/// Quoting of commas, quotes and line breaks is the CSV writer's.
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// One app's days of a month, for a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSeries {
    pub app_id: String,
    pub app_name: String,
    pub month: Month,
    /// One entry per day of the month, in order.
    pub days: Vec<(UtcDate, DailyCounts)>,
    /// The month's sums.
    pub totals: DailyCounts,
}

/// Groups a month's rows ([`monthly_rows`]) by app, in the rows' app order.
pub fn series_by_app(month: Month, rows: &[ReportRow]) -> Vec<AppSeries> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_app: BTreeMap<&str, AppSeries> = BTreeMap::new();
    for row in rows {
        let series = by_app.entry(&row.app_id).or_insert_with(|| {
            order.push(&row.app_id);
            AppSeries {
                app_id: row.app_id.clone(),
                app_name: row.app_name.clone(),
                month,
                days: Vec::new(),
                totals: DailyCounts::default(),
            }
        });
        series.days.push((row.date, row.counts));
        series.totals.add(&row.counts);
    }
    order
        .iter()
        .filter_map(|app_id| by_app.remove(app_id))
        .collect()
}

/// A series of a chart: its legend text, colour and value per day.
struct ChartSeries {
    label: &'static str,
    colour: &'static str,
    value: fn(&DailyCounts) -> i64,
}

/// The consent screen's outcomes (top panel).
const CONSENT_SERIES: [ChartSeries; 2] = [
    ChartSeries {
        label: "Links created",
        colour: "#2e7d32",
        value: |c| c.links_created,
    },
    ChartSeries {
        label: "Consent denied",
        colour: "#9e9e9e",
        value: |c| c.consent_denied,
    },
];

/// The sign-ins' outcomes (bottom panel), failures by reason.
const SIGN_IN_SERIES: [ChartSeries; 7] = [
    ChartSeries {
        label: "Sign-in succeeded",
        colour: "#1565c0",
        value: |c| c.login_success,
    },
    ChartSeries {
        label: "Failed: unauthorized",
        colour: "#b71c1c",
        value: |c| c.login_failure_unauthorized,
    },
    ChartSeries {
        label: "Failed: bad request",
        colour: "#e53935",
        value: |c| c.login_failure_bad_request,
    },
    ChartSeries {
        label: "Failed: not found",
        colour: "#ef6c00",
        value: |c| c.login_failure_not_found,
    },
    ChartSeries {
        label: "Failed: forbidden",
        colour: "#f9a825",
        value: |c| c.login_failure_forbidden,
    },
    ChartSeries {
        label: "Failed: internal server error",
        colour: "#6d4c41",
        value: |c| c.login_failure_internal_server_error,
    },
    ChartSeries {
        label: "Manual sign-in chosen",
        colour: "#6a1b9a",
        value: |c| c.manual_signin_selected,
    },
];

const SVG_WIDTH: i64 = 900;
const PLOT_LEFT: i64 = 56;
const PLOT_RIGHT: i64 = 640;
const LEGEND_LEFT: i64 = 660;
/// App names longer than this many characters are cut in the title.
const TITLE_MAX_CHARS: usize = 60;

/// The sign-in funnel of one app over its month, as a standalone SVG
/// document (also valid inline in HTML): stacked daily bars of the consent
/// outcomes (links created, consent denied) above those of the sign-ins
/// (succeeded, failed by reason, manual sign-in), with axes and a legend
/// giving the month's totals. Every text from outside is escaped.
pub fn render_funnel_svg(series: &AppSeries) -> String {
    let mut svg = String::new();
    let title = format!(
        "{} ({}): sign-in funnel, {} (UTC)",
        cut(&series.app_name, TITLE_MAX_CHARS),
        series.app_id,
        series.month
    );
    let height = 520;
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {SVG_WIDTH} {height}\" role=\"img\" aria-label=\"{label}\" \
         font-family=\"sans-serif\" font-size=\"12\">\
         <title>{label}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\
         <text x=\"{PLOT_LEFT}\" y=\"24\" font-size=\"15\" font-weight=\"bold\">{label}</text>",
        label = escape_xml(&title),
    );
    panel(&mut svg, series, "Consent screen", &CONSENT_SERIES, 50, 150);
    panel(&mut svg, series, "Sign-ins", &SIGN_IN_SERIES, 250, 210);
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555555\">Day of {} (UTC)</text></svg>",
        (PLOT_LEFT + PLOT_RIGHT) / 2,
        height - 8,
        series.month
    );
    svg
}

/// One panel: title, y axis with gridlines, stacked bars, x axis, legend.
fn panel(
    svg: &mut String,
    series: &AppSeries,
    title: &str,
    parts: &[ChartSeries],
    top: i64,
    height: i64,
) {
    let bottom = top + height;
    let stack_max = series
        .days
        .iter()
        .map(|(_, counts)| parts.iter().map(|p| (p.value)(counts)).sum::<i64>())
        .max()
        .unwrap_or(0);
    let step = nice_step(stack_max);
    let axis_max = ((stack_max + step - 1) / step).max(1) * step;
    let y = |value: i64| bottom - value * height / axis_max;
    let _ = write!(
        svg,
        "<text x=\"{PLOT_LEFT}\" y=\"{}\" font-weight=\"bold\">{}</text>",
        top - 8,
        escape_xml(title)
    );
    let mut tick = 0;
    while tick <= axis_max {
        let _ = write!(
            svg,
            "<line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{0}\" y2=\"{0}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{1}\" y=\"{2}\" text-anchor=\"end\" fill=\"#555555\">{3}</text>",
            y(tick),
            PLOT_LEFT - 6,
            y(tick) + 4,
            tick
        );
        tick += step;
    }
    let days = i64::try_from(series.days.len()).unwrap_or(1).max(1);
    let slot = (PLOT_RIGHT - PLOT_LEFT) as f64 / days as f64;
    for (index, (date, counts)) in series.days.iter().enumerate() {
        let x = PLOT_LEFT as f64 + slot * index as f64;
        let mut base = 0;
        for part in parts {
            let value = (part.value)(counts);
            if value > 0 {
                let _ = write!(
                    svg,
                    "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\">\
                     <title>{}: {} {}</title></rect>",
                    x + slot * 0.15,
                    y(base + value),
                    slot * 0.7,
                    y(base) - y(base + value),
                    part.colour,
                    date,
                    escape_xml(part.label),
                    value
                );
            }
            base += value;
        }
        let (_, _, day) = date.ymd();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555555\">{day}</text>",
            x + slot / 2.0,
            bottom + 14
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#333333\"/>\
         <line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_LEFT}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#333333\"/>"
    );
    for (index, part) in parts.iter().enumerate() {
        let row_y = top + 4 + i64::try_from(index).unwrap_or(0) * 20;
        let _ = write!(
            svg,
            "<rect x=\"{LEGEND_LEFT}\" y=\"{row_y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{} ({} this month)</text>",
            part.colour,
            LEGEND_LEFT + 18,
            row_y + 10,
            escape_xml(part.label),
            (part.value)(&series.totals)
        );
    }
}

/// A gridline step of 1, 2 or 5 × 10^k giving at most 5 steps up to `max`.
fn nice_step(max: i64) -> i64 {
    let mut magnitude = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            if max <= step * 5 {
                return step;
            }
        }
        magnitude *= 10;
    }
}

/// The first `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Text for an XML text node or attribute value. Characters XML 1.0 cannot
/// carry (controls other than tab and line breaks) become U+FFFD.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_dates_parse_strictly_and_know_their_calendar() {
        for (text, ok) in [
            ("2026-02", true),
            ("1970-01", true),
            ("9999-12", true),
            ("2026-2", false),
            ("2026-13", false),
            ("2026-00", false),
            ("1969-12", false),
            ("+202-01", false),
            ("2026/01", false),
            ("", false),
        ] {
            assert_eq!(text.parse::<Month>().is_ok(), ok, "{text}");
        }
        let feb = |year| Month::new(year, 2).unwrap().day_count();
        assert_eq!(
            (feb(2024), feb(2026), feb(2000), feb(2100)),
            (29, 28, 29, 28)
        );
        assert_eq!(
            "2028-02-29".parse::<UtcDate>().unwrap().to_string(),
            "2028-02-29"
        );
        assert!("2027-02-29".parse::<UtcDate>().is_err());
        assert!("2026-04-31".parse::<UtcDate>().is_err());
        let date = UtcDate::containing(1_795_564_800_000);
        assert_eq!(date.to_string(), "2026-11-25");
        assert_eq!(date.start_ms(), 1_795_564_800_000);
        assert_eq!(
            UtcDate::containing(1_795_564_800_000 - 1).to_string(),
            "2026-11-24"
        );
        let december = Month::new(2026, 12).unwrap();
        assert_eq!(december.next().to_string(), "2027-01");
        assert_eq!(december.end_day().to_string(), "2027-01-01");
        assert_eq!(
            Month::range("2026-11".parse().unwrap(), "2027-02".parse().unwrap())
                .unwrap()
                .len(),
            4
        );
        // Every day of 400 years round-trips through the text form.
        let mut day = Month::new(2000, 1).unwrap().first_day();
        while day < Month::new(2400, 1).unwrap().first_day() {
            assert_eq!(day.to_string().parse::<UtcDate>().unwrap(), day);
            assert_eq!(day.next().epoch_day(), day.epoch_day() + 1);
            day = day.next();
        }
    }

    #[test]
    fn every_event_lands_in_its_column() {
        let cases: [(&str, Option<&str>, &str); 10] = [
            ("ENABLE_SSI", None, "links_created"),
            ("CONSENT_DENIED", None, "consent_denied"),
            ("LOGIN_SUCCESS", None, "login_success"),
            (
                "LOGIN_FAILURE",
                Some("UNAUTHORIZED"),
                "login_failure_unauthorized",
            ),
            (
                "LOGIN_FAILURE",
                Some("BAD_REQUEST"),
                "login_failure_bad_request",
            ),
            (
                "LOGIN_FAILURE",
                Some("NOT_FOUND"),
                "login_failure_not_found",
            ),
            (
                "LOGIN_FAILURE",
                Some("FORBIDDEN"),
                "login_failure_forbidden",
            ),
            (
                "LOGIN_FAILURE",
                Some("INTERNAL_SERVER_ERROR"),
                "login_failure_internal_server_error",
            ),
            ("MANUAL_SIGNIN_SELECTED", None, "manual_signin_selected"),
            ("SOMETHING_ELSE", None, ""),
        ];
        for (event, reason, column) in cases {
            let counts = DailyCounts::of_event(event, reason);
            for (name, value) in DailyCounts::COLUMNS.iter().zip(counts.values()) {
                let expected = *name == column || (*name == "login_failure" && reason.is_some());
                assert_eq!(value, i64::from(expected), "{event} {reason:?} {name}");
            }
        }
    }

    #[test]
    fn hostile_text_is_neutralised() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("-1+1"), "'-1+1");
        assert_eq!(spreadsheet_safe("Plain, name"), "Plain, name");
        assert_eq!(
            escape_xml("<script>&\"'\u{7}"),
            "&lt;script&gt;&amp;&quot;&#39;\u{FFFD}"
        );
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(26), 10);
        assert_eq!(nice_step(2_400_000), 500_000);
    }
}
