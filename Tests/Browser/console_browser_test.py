#!/usr/bin/env python3
"""The operator console in a real browser (Debian's chromium, headless, through selenium).

  console_browser_test.py URL USER PASSWORD SECRET...

Signs in with the login form, checks the fleet and the live replies page, redrives the dead
letters of target `nowhere` from the dead-letter page (preview, start, progress to completed)
while the replies page, left open, receives their new replies, searches for one of them,
opens the dead letter of command `pw-1` and finds its password and passport number redacted,
and checks that no SECRET appears in any page it saw. Prints one line per check; exit 1 at the first failure.
"""
import sys

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, user, password, *secrets = sys.argv[1:]
options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
seen = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        driver.save_screenshot("/tmp/console-browser-failure.png")
        driver.quit()
        sys.exit(1)


def visit(path):
    driver.get(url.rstrip("/") + path)
    seen.append((path, driver.page_source))


def wait_for(what, condition, seconds=30):
    """Polls `condition` until it holds. An error from the browser while a page is being replaced
    (an element of the page before, a document not yet there) is a reason to ask again, not a
    failure; the last one is printed if the wait runs out."""
    errors = []

    def attempt(_):
        try:
            return condition()
        except WebDriverException as error:
            errors[:] = [error]
            return False

    try:
        WebDriverWait(driver, seconds).until(attempt)
        return True
    except TimeoutException:
        last = f" (last browser error: {type(errors[0]).__name__}: {errors[0].msg})" if errors else ""
        print(f"timed out waiting for {what}{last}")
        return False


def sign_in(name, secret, answered):
    """Submits the login form and waits until `answered` sees the answer's page. A click returns
    before that page replaces the form (a soak run read the old one under load). Waiting for the
    old form to go stale was not enough either: under the full suite it timed out now and then
    with the answer already drawn, so the wait now looks for what the user sees."""
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    return wait_for("the answer to the login form", answered)


visit("/")
check(driver.current_url.endswith("/login"), "an anonymous browser is sent to the login form")
check(sign_in(user, "wrong", lambda: "Wrong user name or password" in driver.page_source), "a wrong password is refused")
check(sign_in(user, password, lambda: driver.title.startswith("Fleet")), "signed in, the fleet page")
seen.append(("/", driver.page_source))
check(wait_for("a running worker", lambda: (driver.refresh() or True) and "presence-running" in driver.page_source), "the fleet shows the worker running")

# Replies, live: a second window stays on the page while the redrive below answers again.
visit("/replies")
check(wait_for("the live summary", lambda: "live: 3 replies" in driver.find_element(By.ID, "live-state").text), "the live page shows the three replies")
check("unknown_target" in driver.find_element(By.ID, "by-category").text, "counted by category")
check(driver.find_elements(By.CSS_SELECTOR, "#throughput svg polyline") and driver.find_elements(By.CSS_SELECTOR, "#histogram svg rect"), "charts drawn")
live_window = driver.current_window_handle
driver.switch_to.new_window("window")

visit("/dead-letters?target=nowhere")
rows = driver.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr")
check(len(rows) == 2, f"the filter shows the two dead letters of target nowhere ({len(rows)})")
driver.find_element(By.ID, "preview-matching").click()
check(wait_for("the preview", lambda: "2 to re-publish" in driver.find_element(By.ID, "preview").text), "the preview counts them")
check("nowhere · unknown_target: 2" in driver.find_element(By.ID, "preview").text, "per target and category")
driver.find_element(By.ID, "start").click()
check(wait_for("the redrive's end", lambda: "completed, 2 of 2 sent" in driver.find_element(By.ID, "progress").text), "the redrive runs to completion, live")
seen.append(("/dead-letters (after the redrive)", driver.page_source))
visit("/dead-letters?target=nowhere")
check(wait_for("the marks", lambda: (driver.refresh() or True) and driver.page_source.count("redriven 1×") == 2), "both are marked redriven")
driver.find_element(By.ID, "preview-matching").click()
check(wait_for("the second preview", lambda: "2 skipped as redriven before" in driver.find_element(By.ID, "preview").text), "a second redrive skips them")

driver.switch_to.window(live_window)
check(wait_for("the redriven commands' replies", lambda: "live: 5 replies" in driver.find_element(By.ID, "live-state").text), "the replies of the redrive arrive on the open page, without a reload")
seen.append(("/replies (live)", driver.page_source))
visit("/search?q=nt-1")
replies = driver.find_element(By.ID, "found-replies").text
check(replies.count("unknown_target") == 2 and "duplicate" in replies, "search shows both replies to nt-1, the second marked duplicate")
check(len(driver.find_elements(By.CSS_SELECTOR, "#found-commands tbody tr")) >= 1, "and the command")

visit("/dead-letters?text=pw-1")
links = driver.find_elements(By.CSS_SELECTOR, "#dead-letters tbody a")
check(len(links) == 1, "the text filter finds the dead letter of pw-1")
visit(links[0].get_attribute("href").replace(url.rstrip("/"), ""))
value = driver.find_element(By.ID, "value").text
check('"password":"<redacted>"' in value and '"passportNumber":"<redacted>"' in value, "its password and passport number show <redacted>")

visit("/redrives")
check("completed" in driver.find_element(By.ID, "redrives").text and user in driver.find_element(By.ID, "redrives").text, "the history shows who redrove what")
driver.save_screenshot("/tmp/console-browser.png")
for path, source in seen:
    for secret in secrets:
        check(secret not in source, f"no secret on {path}")
driver.quit()
print("all checks passed")
