// Demo dataset 4: small instructions in Alpaca format {instruction, input, output}.
// Hand-written pairs for the tasks that need judgement (polite rewrites, summaries, sentiment, grammar,
// subject lines, antonyms) and computed answers for the mechanical ones (units, dates, percentages,
// sorting, counting, field extraction), all from a seeded PRNG.

import { Rng, norm } from './rng.mjs';

const POLITE = [
  ['Send me the report now.', 'Could you please send me the report when you have a moment? Thank you.'],
  [
    'Your delivery is late again. Fix it.',
    'I noticed that my delivery has been delayed again. Could you please look into it and let me know when I can expect it?',
  ],
  ['I need the invoice by Friday.', 'Would it be possible to send me the invoice by Friday? Many thanks.'],
  [
    'Stop calling me during dinner.',
    "I'd be grateful if you could avoid calling me in the evenings, as that's when I have dinner. Thank you for understanding.",
  ],
  ['Move your car, it is blocking my drive.', 'Excuse me, would you mind moving your car? It is blocking my driveway. Thank you.'],
  [
    'The meeting is cancelled. Deal with it.',
    "I'm sorry to let you know that the meeting has been cancelled. I apologise for any inconvenience this may cause.",
  ],
  ['Answer my email.', "I wanted to follow up on my earlier email. I'd appreciate a reply when you get a chance."],
  ['Your music is too loud.', "Sorry to bother you, but could you turn the music down a little? It's quite loud on our side. Thank you!"],
  ['I want a refund.', "I'd like to request a refund, please. Could you let me know what I need to do?"],
  ['Give me a discount or I leave.', "I've been a loyal customer for some time. Is there any discount you might be able to offer me?"],
  [
    'You got my name wrong.',
    'Just a small note: my name is spelled differently from how it appears. Could you please correct it? Thank you.',
  ],
  ['Clean the kitchen after you use it.', 'Could everyone please remember to tidy the kitchen after using it? Thanks so much.'],
  ['Why is this not done yet?', 'Could you give me an update on how this is progressing? I want to make sure we stay on schedule.'],
  ['Bring the documents tomorrow.', 'Would you be able to bring the documents with you tomorrow? Thank you very much.'],
  ['This product is broken. Replace it.', "Unfortunately the product I received doesn't work. Could you please arrange a replacement?"],
  ["Don't be late to the interview.", 'Please aim to arrive a few minutes before your interview time. We look forward to meeting you.'],
];

const SUMMARIES = [
  [
    'The library will close for refurbishment from 1 June to 30 June. During this time, books can be returned to the drop box outside the main entrance, and the mobile library will visit the town square every Tuesday and Friday morning. Online services, including e-books and renewals, will continue as normal.',
    'The library closes for refurbishment in June, but returns, a twice-weekly mobile library and online services remain available.',
  ],
  [
    'Our quarterly sales rose by 12 percent compared with the same period last year, driven mainly by strong demand for our garden furniture range. However, delivery costs increased sharply, so profit grew by only 3 percent.',
    'Sales rose 12% thanks to garden furniture, but higher delivery costs held profit growth to 3%.',
  ],
  [
    'Residents are reminded that the bin collection day will change from Monday to Wednesday starting next month. Recycling will be collected every other Wednesday, and garden waste collections will pause during the winter months from December to February.',
    'From next month bins are collected on Wednesdays, recycling fortnightly, with garden waste paused from December to February.',
  ],
  [
    'After three months of testing, the team found that the new scheduling system reduced the time nurses spent planning shifts by about five hours a week. Some staff reported that the mobile app was slow, and the supplier has promised an update by the end of the year.',
    'The new scheduling system saves nurses about five hours a week, though its slow mobile app is due an update by year end.',
  ],
  [
    'The hiking trail to the waterfall is 6 kilometres long and takes around two hours each way. The path is steep and rocky in places, so walking boots are recommended. There is no drinking water along the route, and the car park fills up quickly at weekends.',
    'The 6 km waterfall trail takes about two hours each way on steep, rocky ground; bring boots and water, and arrive early at weekends.',
  ],
  [
    'Thank you for your order. Unfortunately, the blue version of the jacket you ordered is out of stock until the end of the month. We can send the black version today, or hold your order until the blue one is available. Please let us know which you would prefer.',
    'The blue jacket is out of stock until month end, so the customer can take the black one now or wait.',
  ],
  [
    'The council has approved plans for a new cycle lane along the river, connecting the railway station with the university. Construction will start in spring and is expected to take eight months. Some parking spaces on River Street will be removed.',
    'A riverside cycle lane linking the station and the university will be built over eight months from spring, removing some River Street parking.',
  ],
  [
    'Many people find it hard to sleep in hot weather. Experts suggest keeping curtains closed during the day, taking a lukewarm shower before bed, and using a fan. Avoiding alcohol and heavy meals in the evening can also help.',
    'To sleep better in hot weather, keep curtains shut by day, shower lukewarm, use a fan and avoid alcohol and heavy evening meals.',
  ],
  [
    'The software update released last night fixes a problem that caused the app to crash when uploading photos. It also adds a dark mode and makes searches faster. Users are advised to install the update as soon as possible.',
    "Last night's update fixes the photo-upload crash, adds dark mode and speeds up search, so users should install it soon.",
  ],
  [
    'Our office will move to a new building on Harbour Street on 15 March. The phone numbers and email addresses will stay the same. Visitors should use the entrance on Dock Lane, where there is step-free access and a small car park.',
    'The office moves to Harbour Street on 15 March with unchanged contact details; visitors should use the step-free Dock Lane entrance.',
  ],
  [
    'A survey of 2,000 adults found that 64 percent now do most of their banking on a phone, up from 41 percent five years ago. Older respondents were more likely to visit a branch, mainly to pay in cash or to get help with complex problems.',
    'Phone banking has grown to 64% of adults from 41% five years ago, while older people still use branches for cash and complex help.',
  ],
  [
    'The museum is free to enter, but the special exhibition on ancient maps costs £8 for adults and £4 for children. Tickets can be booked online, and the exhibition closes at the end of September.',
    'Entry is free, but the ancient maps exhibition, open until September, costs £8 for adults and £4 for children, bookable online.',
  ],
  [
    'The recipe needs 200 grams of flour, two eggs and 300 millilitres of milk. Whisk everything into a smooth batter, let it rest for half an hour, and cook thin pancakes in a hot, lightly oiled pan for about a minute on each side.',
    'Make a batter of flour, eggs and milk, rest it for 30 minutes and fry thin pancakes for a minute per side.',
  ],
  [
    'Due to engineering works, no trains will run between Millbrook and Harrowgate this Sunday. Replacement buses will leave from outside each station every 20 minutes, and journeys will take around 30 minutes longer than usual.',
    'No trains between Millbrook and Harrowgate on Sunday; replacement buses run every 20 minutes and add about 30 minutes.',
  ],
];

const SENTIMENT = [
  ['The staff were friendly and my problem was solved in five minutes.', 'positive'],
  ['I waited an hour on hold and nobody ever answered.', 'negative'],
  ['The parcel arrived on Tuesday.', 'neutral'],
  ['Absolutely love this kettle, it boils in no time and looks great.', 'positive'],
  ['The hotel room was dirty and the air conditioning did not work.', 'negative'],
  ['The meeting has been moved to 3pm.', 'neutral'],
  ['Best pizza I have had in years. We will definitely be back!', 'positive'],
  ['The app crashes every time I try to pay. Very frustrating.', 'negative'],
  ['The store opens at nine on weekdays.', 'neutral'],
  ['Thank you so much for sorting out my account so quickly.', 'positive'],
  ['They charged me twice and refused to refund the second payment.', 'negative'],
  ['The report contains four sections and an appendix.', 'neutral'],
  ['The course was clear, well organised and genuinely useful.', 'positive'],
  ['My order was wrong and the replacement was wrong too.', 'negative'],
  ['The train to Leeds leaves from platform 4.', 'neutral'],
  ['What a lovely surprise, the flowers were beautiful.', 'positive'],
  ['Terrible service, I will not be ordering from here again.', 'negative'],
  ['The form must be signed by both applicants.', 'neutral'],
  ['The new update made the app so much faster, great job.', 'positive'],
  ['The shoes fell apart after two weeks.', 'negative'],
];

const GRAMMAR = [
  ['Me and him goes to the market every saturday.', 'He and I go to the market every Saturday.'],
  ['Their going to arrive at the station at 5 oclock.', "They're going to arrive at the station at 5 o'clock."],
  ['She dont like coffee, she prefer tea.', "She doesn't like coffee; she prefers tea."],
  ['The results was better then we expected.', 'The results were better than we expected.'],
  ['I have went to london three times.', 'I have been to London three times.'],
  ['Its a nice day, lets go for a walk.', "It's a nice day, so let's go for a walk."],
  ['Each of the students have a laptop.', 'Each of the students has a laptop.'],
  ['Can you borrow me your pen?', 'Can you lend me your pen?'],
  ['We was waiting for you since two hours.', 'We have been waiting for you for two hours.'],
  ['Less people came to the meeting then last week.', 'Fewer people came to the meeting than last week.'],
  ['The childrens toys is on the floor.', "The children's toys are on the floor."],
  ['He runned to the shop because he forget the milk.', 'He ran to the shop because he forgot the milk.'],
];

const SUBJECTS = [
  [
    "Hi Anna, I won't be able to attend Thursday's team meeting because I have a dentist appointment. Could you send me the notes afterwards? Thanks, Ben",
    "Unable to attend Thursday's team meeting",
  ],
  [
    'Dear all, the office heating will be switched off on Saturday for a boiler service. Please take any plants home for the weekend.',
    'Heating off on Saturday for boiler service',
  ],
  [
    'Hello, I am writing to ask whether you have any vacancies for a part-time bookkeeper. I have attached my CV.',
    'Enquiry about part-time bookkeeper vacancies',
  ],
  ['Hi team, great news: we won the Harbour Street contract! Drinks are on me on Friday at 5pm.', 'We won the Harbour Street contract'],
  ['Dear Mr Patel, please find attached the signed lease for Unit 4. Let me know if you need anything else.', 'Signed lease for Unit 4'],
  ['Hi, my invoice number 4471 from last month is still unpaid. Could you check on its status?', 'Unpaid invoice 4471'],
  [
    'Dear parents, the school trip to the science museum has been moved from 12 May to 19 May because of a rail strike.',
    'School trip moved to 19 May',
  ],
  [
    'Hi Sam, could we move our call from 10am to 2pm tomorrow? Something urgent has come up this morning.',
    "Can we move tomorrow's call to 2pm?",
  ],
];

const ANTONYMS = [
  ['generous', 'mean'],
  ['ancient', 'modern'],
  ['expand', 'contract'],
  ['scarce', 'plentiful'],
  ['victory', 'defeat'],
  ['transparent', 'opaque'],
  ['permanent', 'temporary'],
  ['accept', 'refuse'],
  ['shallow', 'deep'],
  ['reward', 'punishment'],
];

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const FIRST = ['Amira', 'Tom', 'Grace', 'Oliver', 'Mei', 'Daniel', 'Sofia', 'Kwame', 'Hannah', 'Ravi', 'Lucy', 'Marco'];
const LAST = ['Jones', 'Okafor', 'Chen', 'Murphy', 'Novak', 'Singh', 'Williams', 'Rossi', 'Ahmed', 'Taylor', 'Evans', 'Kowalski'];
const FRUIT = ['pear', 'apple', 'mango', 'cherry', 'banana', 'kiwi', 'grape', 'lemon', 'fig', 'plum', 'orange', 'peach', 'apricot', 'lime'];
const CITY = [
  'Oslo',
  'Lima',
  'Cairo',
  'Dublin',
  'Quito',
  'Nairobi',
  'Hanoi',
  'Berlin',
  'Austin',
  'Perth',
  'Madrid',
  'Seoul',
  'Accra',
  'Lisbon',
];

const fmt = (x, d = 1) => {
  const s = x.toFixed(d);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
};

function units(r) {
  const out = [];
  const kinds = [
    () => {
      const km = 5 * (1 + r.int(40));
      return [`Convert ${km} kilometres to miles.`, '', `${km} kilometres is about ${fmt(km * 0.621371)} miles.`];
    },
    () => {
      const mi = 1 + r.int(60);
      return [`How many kilometres is ${mi} miles?`, '', `${mi} miles is about ${fmt(mi * 1.609344)} kilometres.`];
    },
    () => {
      const c = -10 + r.int(45);
      return [`Convert ${c} degrees Celsius to Fahrenheit.`, '', `${c}°C is ${fmt((c * 9) / 5 + 32)}°F.`];
    },
    () => {
      const f = 20 + r.int(90);
      return [`Convert this temperature to Celsius.`, `${f}°F`, `${f}°F is about ${fmt(((f - 32) * 5) / 9)}°C.`];
    },
    () => {
      const kg = 1 + r.int(100);
      return [`Convert ${kg} kg to pounds.`, '', `${kg} kg is about ${fmt(kg * 2.20462)} pounds.`];
    },
    () => {
      const cm = 10 + r.int(190);
      return [`Express ${cm} centimetres in inches.`, '', `${cm} cm is about ${fmt(cm / 2.54)} inches.`];
    },
    () => {
      const h = 1 + r.int(12);
      const m = 15 * r.int(4);
      return [`How many minutes are there in ${h} hours${m ? ' and ' + m + ' minutes' : ''}?`, '', `${h * 60 + m} minutes.`];
    },
    () => {
      const l = 1 + r.int(20);
      return [`Convert ${l} litres to millilitres.`, '', `${l} litres is ${(l * 1000).toLocaleString('en-GB')} millilitres.`];
    },
  ];
  for (let i = 0; i < 18; i++) {
    const [instruction, input, output] = kinds[i % kinds.length]();
    out.push({ instruction, input, output });
  }
  return out;
}

function dates(r) {
  const out = [];
  for (let i = 0; i < 8; i++) {
    const d = 1 + r.int(28);
    const m = r.int(12);
    const y = 2018 + r.int(10);
    const dd = String(d).padStart(2, '0');
    const mm = String(m + 1).padStart(2, '0');
    if (i % 2 === 0)
      out.push({
        instruction: 'Rewrite this date in the format "day month year", with the month in words.',
        input: `${dd}/${mm}/${y}`,
        output: `${d} ${MONTHS[m]} ${y}`,
      });
    else
      out.push({
        instruction: 'Convert this date to ISO 8601 format (YYYY-MM-DD).',
        input: `${d} ${MONTHS[m]} ${y}`,
        output: `${y}-${mm}-${dd}`,
      });
  }
  return out;
}

function arithmetic(r) {
  const out = [];
  for (let i = 0; i < 8; i++) {
    if (i % 2 === 0) {
      const p = r.pick([5, 10, 15, 20, 25, 30, 40]);
      const x = 20 * (1 + r.int(30));
      out.push({ instruction: `What is ${p}% of ${x}?`, input: '', output: `${p}% of ${x} is ${fmt((p * x) / 100, 2)}.` });
    } else {
      const price = 10 * (2 + r.int(20));
      const p = r.pick([10, 20, 25, 50]);
      out.push({
        instruction: 'Work out the sale price.',
        input: `A coat costs £${price} and is reduced by ${p}%.`,
        output: `The discount is £${fmt((price * p) / 100, 2)}, so the sale price is £${fmt(price - (price * p) / 100, 2)}.`,
      });
    }
  }
  return out;
}

function lists(r) {
  const out = [];
  for (let i = 0; i < 8; i++) {
    const pool = i % 2 === 0 ? FRUIT : CITY;
    const items = r.sample(pool, 4 + r.int(3));
    out.push({
      instruction: 'Sort these words alphabetically.',
      input: items.join(', '),
      output: items
        .slice()
        .sort((a, b) => a.localeCompare(b))
        .join(', '),
    });
  }
  for (let i = 0; i < 6; i++) {
    const s = r.pick([...SENTIMENT.map((x) => x[0]), ...GRAMMAR.map((x) => x[1])]);
    const n = s.split(/\s+/).filter(Boolean).length;
    out.push({ instruction: 'Count the words in this sentence.', input: s, output: `The sentence has ${n} words.` });
  }
  return out;
}

function extraction(r) {
  const out = [];
  for (let i = 0; i < 16; i++) {
    const first = r.pick(FIRST);
    const last = r.pick(LAST);
    const order = `WB-${10000 + r.int(89999)}`;
    const email = `${first.toLowerCase()}.${last.toLowerCase()}@example.com`;
    const day = 1 + r.int(28);
    const month = r.pick(MONTHS);
    const amount = `£${(5 + r.int(400)).toString()}.${String(r.int(100)).padStart(2, '0')}`;
    const phone = `07700 9${String(r.int(100000)).padStart(5, '0')}`;
    const msg = r.pick([
      `Hello, this is ${first} ${last}. I placed order ${order} on ${day} ${month} and paid ${amount}, but it hasn't arrived. You can reach me at ${email} or on ${phone}.`,
      `Hi, my order number is ${order}. Please send the receipt for ${amount} to ${email}. Thanks, ${first} ${last}`,
      `Dear team, ${first} ${last} here (${phone}). I was charged ${amount} on ${day} ${month} for order ${order}, which I cancelled.`,
    ]);
    const fields = [
      ['the order number', order, true],
      ['the amount paid', amount, true],
      ["the customer's full name", `${first} ${last}`, true],
      ['the email address', email, msg.includes(email)],
      ['the phone number', phone, msg.includes(phone)],
      ['the date', `${day} ${month}`, msg.includes(`${day} ${month}`)],
    ].filter((f) => f[2]);
    const [what, value] = fields[i % fields.length];
    out.push({ instruction: `Extract ${what} from the message.`, input: msg, output: value });
  }
  return out;
}

/** The Alpaca set: an array of {instruction, input, output}, in a seeded order, no two alike. */
export function alpacaDataset(seed = 23) {
  const r = new Rng(seed);
  const ex = [];
  const seen = new Set();
  const key = (x) => norm(`${x.instruction} ${x.input}`);
  // Computed tasks: draw again until each adds something new.
  const distinct = (gen) => {
    const want = gen(r).length;
    const got = [];
    for (let tries = 0; got.length < want && tries < 50; tries++) {
      for (const x of gen(r)) {
        if (got.length < want && !seen.has(key(x))) {
          seen.add(key(x));
          got.push(x);
        }
      }
    }
    return got;
  };
  for (const [a, b] of POLITE)
    ex.push({
      instruction: r.pick([
        'Rewrite this message so that it sounds polite.',
        'Make this sentence more courteous.',
        'Rephrase this politely.',
      ]),
      input: a,
      output: b,
    });
  for (const [a, b] of SUMMARIES)
    ex.push({
      instruction: r.pick([
        'Summarise this text in one sentence.',
        'Give a one-sentence summary of the following.',
        'Summarize the passage briefly.',
      ]),
      input: a,
      output: b,
    });
  for (const [a, b] of SENTIMENT)
    ex.push({ instruction: 'Classify the sentiment of this text as positive, negative or neutral.', input: a, output: b });
  for (const [a, b] of GRAMMAR)
    ex.push({
      instruction: r.pick(['Correct the grammar and spelling in this sentence.', 'Fix the mistakes in this sentence.']),
      input: a,
      output: b,
    });
  for (const [a, b] of SUBJECTS) ex.push({ instruction: 'Write a short subject line for this email.', input: a, output: b });
  for (const [a, b] of ANTONYMS)
    ex.push({ instruction: `Give the opposite of the word "${a}".`, input: '', output: b.charAt(0).toUpperCase() + b.slice(1) + '.' });
  for (const x of ex) seen.add(key(x));
  for (const gen of [units, dates, arithmetic, lists, extraction]) ex.push(...distinct(gen));
  return r.shuffle(ex).map(({ instruction, input, output }) => ({ instruction, input, output }));
}
