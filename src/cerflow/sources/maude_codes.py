"""FDA MAUDE code tables: the descriptions openFDA puts in place of the bulk files' codes.

Transcribed from the code lists on FDA's "MDR Data Files" page, as FDA's own openFDA pipeline
uses them (its `maude/data/enums.csv`); the tests check every entry against that file. Kept in
code, not read from a data file, so the reader works offline with nothing but the bulk files.

`device_evaluated_by_manufacturer` is deliberately absent: FDA's table names it
`device_evaluated_by_manufactur`, which never matches the column, so openFDA serves the raw
code (Y/N/R) and so do we. `device_operator` uses the reporter occupation table.
"""

from __future__ import annotations

from typing import Final

REPORT_SOURCE_CODE: Final[dict[str, str]] = {
    "P": "Voluntary report",
    "U": "User Facility report",
    "D": "Distributor report",
    "M": "Manufacturer report",
}
REPORTER_OCCUPATION_CODE: Final[dict[str, str]] = {
    "*": "INVALID DATA",
    "000": "OTHER",
    "001": "PHYSICIAN",
    "002": "NURSE",
    "0HP": "HEALTH PROFESSIONAL",
    "0LP": "LAY USER/PATIENT",
    "100": "OTHER HEALTH CARE PROFESSIONAL",
    "101": "AUDIOLOGIST",
    "102": "DENTAL HYGIENIST",
    "103": "DIETICIAN",
    "104": "EMERGENCY MEDICAL TECHNICIAN",
    "105": "MEDICAL TECHNOLOGIST",
    "106": "NUCLEAR MEDICINE TECHNOLOGIST",
    "107": "OCCUPATIONAL THERAPIST",
    "108": "PARAMEDIC",
    "109": "PHARMACIST",
    "110": "PHLEBOTOMIST",
    "111": "PHYSICAL THERAPIST",
    "112": "PHYSICIAN ASSISTANT",
    "113": "RADIOLOGIC TECHNOLOGIST",
    "114": "RESPIRATORY THERAPIST",
    "115": "SPEECH THERAPIST",
    "116": "DENTIST",
    "300": "OTHER CAREGIVERS",
    "301": "DENTAL ASSISTANT",
    "302": "HOME HEALTH AIDE",
    "303": "MEDICAL ASSISTANT",
    "304": "NURSING ASSISTANT",
    "305": "PATIENT",
    "306": "PATIENT FAMILY MEMBER OR FRIEND",
    "307": "PERSONAL CARE ASSISTANT",
    "400": "SERVICE AND TESTING PERSONNEL",
    "401": "BIOMEDICAL ENGINEER",
    "402": "HOSPITAL SERVICE TECHNICIAN",
    "403": "MEDICAL EQUIPMENT COMPANY TECHNICIAN/REPRESENTATIVE",
    "404": "PHYSICIST",
    "405": "SERVICE PERSONNEL",
    "499": "DEVICE UNATTENDED",
    "500": "RISK MANAGER",
    "600": "ATTORNEY",
    "999": "UNKNOWN",
    "NA": "NOT APPLICABLE",
    "NI": "NO INFORMATION",
    "UNK": "UNKNOWN",
}
INITIAL_REPORT_TO_FDA: Final[dict[str, str]] = {
    "Y": "Yes",
    "N": "No",
    "U": "Unknown",
    "*": "No answer provided",
}
TYPE_OF_REPORT: Final[dict[str, str]] = {
    "I": "Initial submission",
    "F": "Followup",
    "X": "Extra copy received",
    "O": "Other information submitted",
}
SOURCE_TYPE: Final[dict[str, str]] = {
    "00": "Other",
    "01": "Foreign",
    "02": "Study",
    "03": "Literature",
    "04": "Consumer",
    "05": "Health Professional",
    "06": "User facility",
    "07": "Company representation",
    "08": "Distributor",
    "99": "Unknown",
    "*": "Invalid data",
}
REMEDIAL_ACTION: Final[dict[str, str]] = {
    "RC": "Recall",
    "RP": "Repair",
    "RL": "Replace",
    "RB": "Relabeling",
    "OT": "Other",
    "NO": "Notification",
    "IN": "Inspection",
    "PM": "Patient Monitoring",
    "MA": "Modification/Adjustment",
    "*": "Invalid Data",
}
EVENT_TYPE: Final[dict[str, str]] = {
    "D": "Death",
    "IN": "Injury",
    "IL": "Injury",
    "IJ": "Injury",
    "M": "Malfunction",
    "O": "Other",
    "*": "No answer provided",
}
DATE_REMOVED_FLAG: Final[dict[str, str]] = {
    "U": "Unknown",
    "A": "Not available",
    "I": "No information at this time",
    "M": "Month and year provided only day defaults to 01",
    "Y": "Year provided only, day defaulted to 01 month defaulted to January",
}
DEVICE_AVAILABILITY: Final[dict[str, str]] = {
    "Y": "Yes",
    "N": "No",
    "R": "Device was returned to manufacturer",
    "*": "No answer provided",
}
SEQUENCE_NUMBER_OUTCOME: Final[dict[str, str]] = {
    "L": "Life Threatening",
    "H": "Hospitalization",
    "S": "Disability",
    "C": "Congenital Anomaly",
    "R": "Required Intervention",
    "O": "Other",
    "*": "Invalid Data",
    "U": "Unknown",
    "I": "No Information",
    "A": "Not Applicable",
    "D": "Death",
}
EVENT_LOCATION: Final[dict[str, str]] = {
    "*": "INVALID DATA",
    "000": "OTHER",
    "001": "HOSPITAL",
    "002": "HOME",
    "003": "NURSING HOME",
    "004": "OUTPATIENT TREATMENT FACILITY",
    "005": "OUTPATIENT DIAGNOSTIC FACILITY",
    "006": "AMBULATORY SURGICAL FACILITY",
    "500": "HOSPITAL",
    "501": "CATHETERIZATION SUITE",
    "502": "CRITICAL CARE UNIT",
    "503": "DIALYSIS UNIT",
    "504": "EMERGENCY ROOM",
    "505": "EXAMINATION ROOM",
    "506": "LABORATORY/PATHOLOGY DEPARTMENT",
    "507": "MATERNITY WARD - NURSERY",
    "508": "OPERATING ROOM",
    "509": "OUTPATIENT CLINIC/SURGERY",
    "510": "PATIENT'S ROOM OR WARD",
    "511": "RADIOLOGY DEPARTMENT",
    "600": "AMBULATORY HEALTH CARE FACILITY",
    "601": "AMBULATORY SURGICAL CENTER",
    "602": "BLOOD BANK",
    "603": "BLOODMOBILE",
    "604": "CATHETERIZATION LAB - FREE STANDING",
    "605": "CHEMOTHERAPY CENTER",
    "606": "CLINIC - WALK IN, OTHER",
    "607": "DIALYSIS CENTER",
    "608": "DRUG CLINIC",
    "609": "IMAGING CENTER - MOBILE",
    "610": "IMAGING CENTER - STATIONARY",
    "611": "LABORATORY",
    "612": "MOBILE HEALTH UNIT",
    "613": "MRI CENTERS",
    "614": "PSYCHIATRIC CENTER - WALK IN, OTHER",
    "615": "TUBERCULOSIS CLINIC",
    "616": "URGENT CARE CENTER",
    "617": "OUTPATIENT DIAGNOSTIC FACILITY",
    "700": "LONG-TERM CARE FACILITY",
    "701": "HOSPICE",
    "702": "NURSING HOME",
    "703": "PSYCHIATRIC FACILITY",
    "704": "REHABILITATION CENTER",
    "705": "RETIREMENT HOME",
    "810": "PATIENT'S HOME",
    "820": "IN TRANSIT TO USER/MEDICAL FACILITY",
    "830": "PUBLIC VENUE",
    "831": "OUTDOORS",
    "832": "PARK",
    "833": "PLAYGROUND",
    "834": "PUBLIC BUILDING",
    "835": "SCHOOL",
    "836": "STREET",
    "999": "UNKNOWN",
    "NA": "NOT APPLICABLE",
    "NI": "NO INFORMATION",
    "UNK": "UNKNOWN",
}
TEXT_TYPE_CODE: Final[dict[str, str]] = {
    "D": "Description of Event or Problem",
    "E": "Manufacturer Evaluation Summary",
    "N": "Additional Manufacturer Narrative",
}
DEVICE_OPERATOR: Final[dict[str, str]] = REPORTER_OCCUPATION_CODE

# Fields whose single code is replaced by its description (top level and nested records).
SIMPLE_ENUMS: Final[dict[str, dict[str, str]]] = {
    "report_source_code": REPORT_SOURCE_CODE,
    "reporter_occupation_code": REPORTER_OCCUPATION_CODE,
    "initial_report_to_fda": INITIAL_REPORT_TO_FDA,
    "event_type": EVENT_TYPE,
    "date_removed_flag": DATE_REMOVED_FLAG,
    "device_availability": DEVICE_AVAILABILITY,
    "event_location": EVENT_LOCATION,
    "device_operator": DEVICE_OPERATOR,
    "text_type_code": TEXT_TYPE_CODE,
}
# Fields holding several comma-separated codes (a report submitted more than once).
MULTI_ENUMS: Final[dict[str, dict[str, str]]] = {
    "source_type": SOURCE_TYPE,
    "remedial_action": REMEDIAL_ACTION,
    "type_of_report": TYPE_OF_REPORT,
}
