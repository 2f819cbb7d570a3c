"""Fixed vocabularies of the demo world: plans, places, names, pages and message templates.

Weights are relative; the generator normalises them. Everything here is plain data so the
simulation code reads as behaviour, not as lists.
"""

from __future__ import annotations


def _list(text: str) -> tuple[str, ...]:
    """A comma-separated list, which keeps long name lists readable and compact."""
    return tuple(text.split(", "))


# Plans in upgrade order; index 0 is the cheapest. Monthly prices in USD.
PLANS: tuple[str, ...] = ("basic", "standard", "premium")
PLAN_PRICES: tuple[float, ...] = (19.0, 49.0, 99.0)
PLAN_MIX: tuple[float, ...] = (0.5, 0.35, 0.15)
CURRENCY = "USD"

REGIONS: tuple[str, ...] = ("north_america", "europe", "apac", "latam")
REGION_MIX: tuple[float, ...] = (0.4, 0.3, 0.18, 0.12)
# Fixed UTC offsets (hours) used to put customer activity into local waking hours.
REGION_UTC_OFFSET: tuple[int, ...] = (-5, 1, 8, -3)
COUNTRIES: tuple[tuple[tuple[str, float], ...], ...] = (
    (("US", 85), ("CA", 15)),
    (("DE", 22), ("GB", 20), ("FR", 15), ("ES", 10), ("IT", 10), ("NL", 8), ("PL", 6), ("SE", 5), ("IE", 4)),
    (("AU", 30), ("JP", 20), ("IN", 20), ("KR", 15), ("SG", 10), ("NZ", 5)),
    (("BR", 40), ("MX", 30), ("AR", 10), ("CO", 10), ("CL", 10)),
)
FIRST_NAMES: tuple[tuple[str, ...], ...] = (
    _list(
        "James, Mary, Michael, Jennifer, David, Linda, Emily, Daniel, Ashley, Chris, Jessica, Ryan, "
        "Olivia, Noah, Sophia, Ethan"
    ),
    _list(
        "Anna, Lukas, Sophie, Jan, Marie, Pierre, Chloé, Giulia, Marco, Lucía, Javier, Emma, Lars, "
        "Ingrid, Zofia, Tomasz, Hannah, Oliver"
    ),
    _list(
        "Hiroshi, Yuki, Wei, Mei, Arjun, Priya, Jack, Chloe, Min-jun, Seo-yeon, Liam, Aiko, Raj, Ananya, "
        "Kenji"
    ),
    _list(
        "María, José, Juan, Ana, Carlos, Luis, Camila, Valentina, Mateo, Sofía, Diego, Gabriela, Lucas, "
        "Isabela"
    ),
)
LAST_NAMES: tuple[tuple[str, ...], ...] = (
    _list(
        "Smith, Johnson, Williams, Brown, Jones, Miller, Davis, Wilson, Anderson, Taylor, O'Brien, "
        "Martin, Thompson, Clark, Lewis, Walker"
    ),
    _list(
        "Müller, Schmidt, Dubois, Martin, Rossi, García, Fernández, Jansen, de Vries, Andersson, Nowak, "
        "Kowalski, Murphy, Bauer, Lefèvre, Smith"
    ),
    _list("Sato, Suzuki, Tanaka, Chen, Wang, Li, Sharma, Patel, Kim, Lee, Park, Nguyen, Tan, Wilson, Singh"),
    _list(
        "Silva, Santos, Oliveira, González, Rodríguez, Hernández, López, Pérez, Martínez, Gómez, Souza, "
        "Ramírez, Torres, Flores"
    ),
)
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 45),
    ("outlook.com", 14),
    ("yahoo.com", 9),
    ("icloud.com", 9),
    ("hotmail.com", 6),
    ("proton.me", 4),
    ("acme-corp.com", 4),
    ("northwind.io", 3),
    ("globex.net", 3),
    ("initech.co", 3),
)

CHANNELS: tuple[str, ...] = ("organic_search", "paid_search", "social", "referral", "email", "direct")
CHANNEL_MIX: tuple[float, ...] = (0.3, 0.2, 0.15, 0.12, 0.08, 0.15)
GENDERS: tuple[str, ...] = ("female", "male", "other")
GENDER_MIX: tuple[float, ...] = (0.49, 0.48, 0.03)

# --- web -----------------------------------------------------------------------------------------
DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet")
# Pages listed twice are visited twice as often.
MARKETING_PAGES: tuple[str, ...] = _list(
    "/, /, /pricing, /features, /features/reports, /customers, /about, /blog, /blog/what-is-nps, "
    "/blog/10-tips-for-better-reports, /blog/customer-journey-mapping, /help/getting-started, /contact"
)
APP_PAGES: tuple[str, ...] = _list(
    "/app, /app, /app/dashboard, /app/dashboard, /app/reports, /app/reports/weekly, /app/reports/new, "
    "/app/settings, /app/settings/team, /app/billing, /help/faq, /help/exports, /shop/addons"
)
# Where a session comes from, by source code: options of (referrer, utm_source, utm_medium, campaign
# kind). The campaign kind becomes a dated campaign name (see web.py); None means no UTM tags.
SOURCES: tuple[str, ...] = ("direct", "organic", "paid", "social", "email", "referral")
LANDINGS: tuple[tuple[tuple[str | None, str | None, str | None, str | None], ...], ...] = (
    ((None, None, None, None),),
    (
        ("https://www.google.com/", None, None, None),
        ("https://www.google.com/", None, None, None),
        ("https://www.bing.com/", None, None, None),
        ("https://duckduckgo.com/", None, None, None),
    ),
    (
        ("https://www.google.com/", "google", "cpc", "search"),
        ("https://www.google.com/", "google", "cpc", "search"),
        ("https://www.bing.com/", "bing", "cpc", "search"),
    ),
    (
        ("https://www.facebook.com/", "facebook", "paid_social", "social"),
        ("https://www.instagram.com/", "instagram", "paid_social", "social"),
        ("https://www.facebook.com/", None, None, None),
        ("https://t.co/", None, None, None),
        ("https://www.linkedin.com/", None, None, None),
    ),
    ((None, "newsletter", "email", "newsletter"),),
    (
        ("https://www.g2.com/", None, None, None),
        ("https://blog.partnerhub.com/best-cx-tools", "partnerhub", "referral", "partner"),
        ("https://news.ycombinator.com/", None, None, None),
    ),
)
CUSTOMER_SOURCE_MIX: tuple[float, ...] = (0.45, 0.2, 0.06, 0.07, 0.18, 0.04)
VISITOR_SOURCE_MIX: tuple[float, ...] = (0.3, 0.32, 0.13, 0.15, 0.02, 0.08)
# Acquisition channel (CHANNELS order) -> landing source of the customer's first visit.
CHANNEL_SOURCE: tuple[int, ...] = (1, 2, 3, 5, 4, 0)
ADDONS: tuple[tuple[str, float], ...] = (
    ("extra-seats", 9.99),
    ("report-pack", 14.99),
    ("data-export", 4.99),
    ("priority-support", 29.0),
    ("template-library", 7.5),
)

# --- support -------------------------------------------------------------------------------------
TICKET_CHANNELS: tuple[str, ...] = ("email", "chat", "phone", "web")
TICKET_CHANNEL_MIX: tuple[float, ...] = (0.4, 0.3, 0.1, 0.2)
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
PRIORITY_MIX: tuple[float, ...] = (0.2, 0.55, 0.2, 0.05)
# (subject, first message). {first} is the requester's first name.
TICKET_TOPICS: tuple[tuple[str, str], ...] = (
    (
        "Charged twice this month",
        "Hi, I was charged twice for my subscription this month. Can you refund one "
        "of the charges? Thanks, {first}",
    ),
    (
        "Question about my invoice",
        "Hello, my invoice shows a different amount than the pricing page, could you explain why? {first}",
    ),
    ("Can't log in", "I can't log in since yesterday, the password reset email never arrives. {first}"),
    (
        "Export fails",
        'When I click "Export" on the reports page nothing happens, tried two browsers. {first}',
    ),
    (
        "Report shows wrong numbers",
        "The weekly report shows numbers that don't match my data. Can someone take a look? Regards, {first}",
    ),
    ("How do I add a team member?", "Hi! How do I invite a colleague to my account? Thanks, {first}"),
    ("Cancel my subscription", "Please tell me how to cancel my subscription. {first}"),
    ("App is very slow", "Dashboards take more than a minute to load today. {first}"),
)
PROSPECT_TOPICS: tuple[tuple[str, str], ...] = (
    ("Question before buying", "Hi, does the standard plan include the report exports? {first}"),
    ("Discount for nonprofits?", "Hello, do you offer a discount for nonprofit organisations? {first}"),
)
AGENT_REPLIES: tuple[str, ...] = (
    "Hi {first}, thanks for reaching out! I have looked into this and fixed it on our side.",
    "Hi {first}, sorry for the trouble. Could you send us a screenshot so we can check?",
    "Hi {first}, thanks for your patience. We found the cause and are working on a fix.",
    "Hello {first}, thanks for the details. I changed the settings on your account, please check again.",
)
CUSTOMER_REPLIES: tuple[str, ...] = (
    "Thanks, that worked!",
    "It's still not working, unfortunately.",
    "Here is the screenshot you asked for.",
    "OK, thanks for the quick help.",
)
REOPEN_MESSAGES: tuple[str, ...] = (
    "The problem is back again.",
    "This is not solved, I still see the same error.",
)
INTERNAL_NOTES: tuple[str, ...] = (
    "Checked the logs, escalating to engineering.",
    "Known issue, linked to the incident ticket.",
    "Customer asked for a callback.",
)
# Outbound follow-ups of low survey scores (closing the loop). The opening message by channel.
FOLLOW_UP_SUBJECTS: tuple[str, ...] = (
    "Following up on your feedback",
    "About your recent survey answer",
    "We read your feedback",
)
FOLLOW_UP_OPENERS: dict[str, str] = {
    "email": (
        "Hi {first}, thank you for answering our survey. I'm sorry we did not live up to your "
        "expectations. Could you tell me a bit more about what went wrong?"
    ),
    "phone": "Outbound call to {first} about their survey answer.",
}
FOLLOW_UP_AGENT_REPLIES: tuple[str, ...] = (
    "Hi {first}, thanks for taking the time to talk with me. I have passed your points on to the team.",
    "Hi {first}, thank you for the details. I have fixed the settings on your account and added a credit.",
    "Hi {first}, sorry again for the trouble. I have shared your feedback with our product team.",
)
FOLLOW_UP_CUSTOMER_REPLIES: tuple[str, ...] = (
    "Thanks for reaching out, the reports keep failing for me.",
    "Appreciate the call. Support took too long last time.",
    "Thanks, it is mostly the price that bothers me.",
)

# --- surveys -------------------------------------------------------------------------------------
THEMES: tuple[str, ...] = ("price", "support", "product_quality", "usability", "billing", "speed")
# Comment fragments by (theme, tone). Tones: positive, neutral, negative.
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "price": {
        "positive": (
            "Great value for the money.",
            "The price is fair for what you get.",
            "Worth every cent.",
        ),
        "neutral": ("Price is okay, could be a bit lower.", "Pricing is fine, nothing special."),
        "negative": (
            "Too expensive for what it offers.",
            "The price went up but the value did not.",
            "Cheaper alternatives do the same.",
        ),
    },
    "support": {
        "positive": (
            "Support was friendly and solved my problem.",
            "The support team is excellent.",
            "Great help from the support agent.",
        ),
        "neutral": ("Support answered, but I had to ask twice.", "Support was okay."),
        "negative": (
            "Support never really answered my question.",
            "I had to explain my issue three times.",
            "Support was unhelpful and rude.",
        ),
    },
    "product_quality": {
        "positive": (
            "The product works reliably.",
            "Really solid product, hardly any bugs.",
            "Reports are accurate and useful.",
        ),
        "neutral": ("Does what it should, a few bugs here and there.", "Product is decent."),
        "negative": (
            "Too many bugs lately.",
            "Reports are often wrong, the quality has dropped.",
            "Features break after every update.",
        ),
    },
    "usability": {
        "positive": (
            "Very easy to use.",
            "Setup took five minutes, super intuitive.",
            "Clean and simple interface.",
        ),
        "neutral": ("Takes some time to learn, then it's fine.", "The menus could be clearer."),
        "negative": (
            "The app is confusing and hard to navigate.",
            "Hard to find even basic settings.",
            "Checkout was complicated.",
        ),
    },
    "billing": {
        "positive": ("Billing is clear and invoices arrive on time.", "Paying was quick and easy."),
        "neutral": ("Invoices are fine, would like more payment options.",),
        "negative": (
            "I was charged twice and it took ages to fix.",
            "Invoices are confusing.",
            "The renewal charge came as a surprise.",
        ),
    },
    "speed": {
        "positive": (
            "Fast answers and a fast app.",
            "Got a reply within minutes!",
            "Everything loads quickly.",
        ),
        "neutral": ("Speed is acceptable.", "Replies could be a bit faster."),
        "negative": ("Waited days for a reply.", "The app is slow to load.", "Way too slow to respond."),
    },
}
# Theme weights (THEMES order) by touchpoint: what people talk about after each experience.
THEME_WEIGHTS: dict[str, tuple[float, ...]] = {
    "relationship": (3, 2, 3, 2, 1, 1),
    "onboarding": (1, 1, 2, 5, 1, 2),
    "support_ticket": (0, 6, 1, 1, 1, 3),
    "checkout": (2, 0, 1, 3, 4, 2),
    "website": (3, 1, 2, 3, 1, 2),
}
