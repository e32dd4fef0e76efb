//! Time windows: a day of the week and an hour range in an IANA time zone. The end hour is
//! exclusive and may be 24, so 23:00-24:00 is expressible.

use jiff::Timestamp;
use jiff::tz::TimeZone;

#[derive(Clone, Debug)]
pub struct Window {
    day_of_week: i8,
    start_hour: i8,
    end_hour: i8,
    zone: TimeZone,
}

impl Window {
    pub fn new(
        day_of_week: u8,
        start_hour: u8,
        end_hour: u8,
        timezone: &str,
    ) -> Result<Window, (&'static str, String)> {
        if day_of_week > 6 {
            return Err(("dayOfWeek", "must be 0 (Sunday) to 6 (Saturday)".into()));
        }
        if start_hour > 23 {
            return Err(("startHour", "must be 0 to 23".into()));
        }
        if !(1..=24).contains(&end_hour) || end_hour <= start_hour {
            return Err(("endHour", "must be 1 to 24 and after startHour".into()));
        }
        let zone = TimeZone::get(timezone)
            .map_err(|_| ("timezone", format!("`{timezone}` is not an IANA time zone")))?;
        Ok(Window {
            day_of_week: day_of_week as i8,
            start_hour: start_hour as i8,
            end_hour: end_hour as i8,
            zone,
        })
    }

    /// Whether the instant `unix_seconds` falls in the window.
    pub fn contains(&self, unix_seconds: i64) -> bool {
        let Ok(ts) = Timestamp::from_second(unix_seconds) else {
            return false;
        };
        let local = self.zone.to_datetime(ts);
        local.weekday().to_sunday_zero_offset() == self.day_of_week
            && (self.start_hour..self.end_hour).contains(&local.hour())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_zone_and_reach_midnight() {
        // 2026-12-05 is a Saturday. 22:30 UTC = 23:30 in Paris (winter, UTC+1).
        let saturday_2230_utc = 1_796_509_800;
        let late = Window::new(6, 23, 24, "Europe/Paris").unwrap();
        assert!(late.contains(saturday_2230_utc));
        assert!(
            !Window::new(6, 23, 24, "UTC")
                .unwrap()
                .contains(saturday_2230_utc)
        );
        assert!(
            Window::new(6, 22, 23, "UTC")
                .unwrap()
                .contains(saturday_2230_utc)
        );
        assert!(
            !Window::new(0, 0, 24, "UTC")
                .unwrap()
                .contains(saturday_2230_utc)
        );
        assert!(Window::new(7, 0, 1, "UTC").is_err());
        assert!(Window::new(1, 9, 9, "UTC").is_err());
        assert!(Window::new(1, 9, 25, "UTC").is_err());
        assert!(Window::new(1, 9, 17, "Mars/Olympus").is_err());
    }
}
