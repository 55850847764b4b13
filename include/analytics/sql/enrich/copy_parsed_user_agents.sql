COPY enrich_ua (
    ua, browser_name, browser_version, os_name, os_version, device_type, device_brand, device_model, is_bot
) FROM STDIN (FORMAT csv)
