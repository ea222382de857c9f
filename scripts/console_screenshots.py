#!/usr/bin/env python3
"""Screenshots of the operator console's pages (see scripts/console-screenshots).

  console_screenshots.py URL USER PASSWORD DIR
"""
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, user, password, out = sys.argv[1:]
url = url.rstrip("/")
options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--hide-scrollbars"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30)


def shoot(name):
    driver.save_screenshot(f"{out}/{name}.png")
    print(f"{out}/{name}.png")


driver.get(url + "/")
shoot("login")
driver.find_element(By.ID, "username").send_keys(user)
driver.find_element(By.ID, "password").send_keys(password)
driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
wait.until(lambda _: (driver.refresh() or True) and "presence-running" in driver.page_source)
shoot("fleet")

driver.get(url + "/replies")
wait.until(lambda _: "live:" in driver.find_element(By.ID, "live-state").text and driver.find_elements(By.CSS_SELECTOR, "#histogram svg rect"))
shoot("replies")

driver.get(url + "/search?q=urac-create-john")
shoot("search")

driver.get(url + "/dead-letters")
links = driver.find_elements(By.CSS_SELECTOR, "#dead-letters tbody a")
shoot("dead-letters")
driver.find_element(By.ID, "preview-matching").click()
wait.until(lambda _: "to re-publish" in driver.find_element(By.ID, "preview").text)
driver.find_element(By.ID, "start").click()
wait.until(lambda _: "completed" in driver.find_element(By.ID, "progress").text)
shoot("redrive")

driver.get(links[0].get_attribute("href") if links else url + "/dead-letters")
shoot("dead-letter")

driver.get(url + "/redrives")
wait.until(lambda _: (driver.refresh() or True) and "completed" in driver.find_element(By.ID, "redrives").text)
shoot("redrives")
driver.quit()
