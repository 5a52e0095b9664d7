// Demo dataset 2: support-ticket intent classification, prompt → completion.
// Prompt "Ticket: <text>\nIntent:", completion " <label>". Each label has ticket templates over slots; the
// last TEST_TEMPLATES templates of a label are used for the test set only, so test tickets are phrasings
// the training set never shows. Tickets are varied with greetings, sign-offs, lower case, missing
// punctuation and typos, from a seeded PRNG.

import { Rng, norm, cap } from './rng.mjs';

export const INTENT_LABELS = ['card_lost', 'login_issue', 'transfer_failed', 'fee_dispute', 'address_change', 'statement_request'];

const TEST_TEMPLATES = 6;

const S = {
  card: ['card', 'debit card', 'credit card', 'bank card', 'visa card', 'contactless card'],
  place: [
    'on the bus',
    'at the pub',
    'in a taxi',
    'at the gym',
    'at work',
    'in the park',
    'at the cinema',
    'on the train',
    'at a petrol station',
  ],
  day: ['yesterday', 'last night', 'this morning', 'on Saturday', 'two days ago', 'last week', 'on Monday'],
  since: ['yesterday', 'last night', 'this morning', 'Saturday', 'Monday', 'last week', 'the weekend'],
  amount: ['£20', '£45.99', '£150', '£300', '£1,250', '£80', '£500', '£12.50', '£2,000', '£64'],
  payee: ['my landlord', 'my mum', 'a supplier', 'my brother', 'the council', 'my accountant', 'a friend', 'my electrician', 'the school'],
  fee: ['£5', '£6', '£10', '£12', '£15', '£25', '£30', '£2.50'],
  feeName: [
    'overdraft fee',
    'monthly account fee',
    'foreign transaction fee',
    'late payment fee',
    'cash withdrawal fee',
    'returned payment charge',
    'annual card fee',
  ],
  months: ['three months', 'six months', 'the last year', 'March and April', 'the past 12 months', 'two months', 'January'],
  reason: [
    'my mortgage application',
    'a visa application',
    'my tax return',
    'the letting agent',
    'my accountant',
    'a loan application',
    'court',
  ],
  town: ['Leeds', 'Bristol', 'Glasgow', 'Norwich', 'Cardiff', 'York', 'Brighton', 'Belfast', 'Exeter', 'Manchester'],
  device: ['the app', 'my phone', 'my laptop', 'the website', 'my tablet', 'net banking'],
};

const T = {
  card_lost: [
    (s) => `I lost my ${s.card} ${s.day}`,
    (s) => `I think I left my ${s.card} ${s.place}, please block it`,
    (s) => `My ${s.card} was stolen ${s.place} ${s.day}. Please cancel it.`,
    (s) => `can't find my ${s.card} anywhere`,
    (s) => `Someone took my wallet ${s.place} with my ${s.card} in it`,
    (s) => `My ${s.card} has gone missing, I need a replacement`,
    (s) => `please freeze my ${s.card}, I dropped it somewhere ${s.day}`,
    (s) => `Lost ${s.card}!! block it now`,
    (s) => `I have misplaced my ${s.card} and I'm worried someone will use it`,
    (s) => `My bag was snatched ${s.place} and my ${s.card} was inside`,
    (s) => `how do I report a lost ${s.card}?`,
    (s) => `I need to cancel my ${s.card} because it was stolen`,
    (s) => `Pickpocketed in ${s.town} ${s.day}, my ${s.card} is gone`,
    (s) => `Hello, my ${s.card} fell out of my pocket ${s.place}. What do I do?`,
    (s) => `my ${s.card} is lost, can you send me a new one`,
    (s) => `Card lost ${s.place}`,
    (s) => `I've lost my purse with my ${s.card}. Please stop the card.`,
    (s) => `Report stolen ${s.card}`,
    // test only
    (s) => `I can't locate my ${s.card} since ${s.since}, I think it's gone for good`,
    (s) => `My ${s.card} disappeared somewhere between home and work`,
    (s) => `need to block a missing ${s.card} urgently`,
    (s) => `Thieves broke into my car ${s.day} and took my ${s.card}`,
    (s) => `where can I report that my ${s.card} was lost?`,
    (s) => `My son lost the ${s.card} I gave him, please cancel it`,
  ],
  login_issue: [
    (s) => `I can't log in to ${s.device}`,
    (s) => `My online banking is locked after too many attempts`,
    (s) => `forgot my password for ${s.device}`,
    (s) => `Login keeps failing on ${s.device} since ${s.since}`,
    (s) => `It says my password is wrong but I know it's right`,
    (s) => `I'm not getting the one time passcode so I can't sign in`,
    (s) => `How do I reset my net banking password?`,
    (s) => `locked out of my account online`,
    (s) => `I forgot my customer ID and can't log on`,
    (s) => `${cap(s.device)} won't let me sign in, it just reloads the page`,
    (s) => `Cannot access internet banking, please help`,
    (s) => `my login details don't work anymore on ${s.device}`,
    (s) => `The security code never arrives when I try to log in on ${s.device}`,
    (s) => `I changed my phone and now I can't log in to ${s.device}`,
    (s) => `Unable to sign in, error "invalid credentials"`,
    (s) => `account locked, how long until I can log in again`,
    (s) => `password reset link not working`,
    (s) => `fingerprint login stopped working on ${s.device}`,
    // test only
    (s) => `I can't log into my net banking account. What to do?`,
    (s) => `Keep getting "access denied" when signing in on ${s.device}`,
    (s) => `I have been locked out of online banking since ${s.since}`,
    (s) => `what do I do if I forgot my login password`,
    (s) => `Log in not possible on ${s.device}, it asks for a code I never receive`,
    (s) => `I can't get past the login screen on ${s.device}`,
  ],
  transfer_failed: [
    (s) => `My transfer of ${s.amount} to ${s.payee} failed`,
    (s) => `I sent ${s.amount} to ${s.payee} ${s.day} and they haven't received it`,
    (s) => `payment to ${s.payee} bounced back`,
    (s) => `The money left my account but never arrived`,
    (s) => `Transfer stuck on pending since ${s.since}`,
    (s) => `Why was my payment of ${s.amount} rejected?`,
    (s) => `${s.payee} says my bank transfer didn't go through`,
    (s) => `The app said "payment could not be processed" when I paid ${s.amount}`,
    (s) => `I made a transfer ${s.day}, money gone from my account but not in theirs`,
    (s) => `my international payment of ${s.amount} hasn't arrived`,
    (s) => `payment failed twice when paying ${s.payee}`,
    (s) => `Where is my transfer? ${s.payee} still hasn't got the money`,
    (s) => `Bank transfer returned to my account, no reason given`,
    (s) => `I tried to send ${s.amount} and got an error`,
    (s) => `transfer not received by ${s.payee}`,
    (s) => `My standing order to ${s.payee} didn't go out this month`,
    (s) => `Please trace a payment of ${s.amount} I made ${s.day}`,
    (s) => `the ${s.amount} I transferred is missing`,
    // test only
    (s) => `Sent money to ${s.payee} ${s.day}, it shows completed but they have nothing`,
    (s) => `My online payment keeps failing at the last step`,
    (s) => `${cap(s.amount)} debited from my account but the transfer was unsuccessful`,
    (s) => `why hasn't my payment to ${s.payee} arrived yet?`,
    (s) => `The transfer I made ${s.day} was declined`,
    (s) => `Funds didn't reach the other bank, please check`,
  ],
  fee_dispute: [
    (s) => `Why was I charged ${s.aFeeName}?`,
    (s) => `I want a refund of the ${s.fee} ${s.feeName}`,
    (s) => `You charged me ${s.fee} for no reason`,
    (s) => `unfair ${s.feeName} on my statement, please remove it`,
    (s) => `I was charged ${s.aFeeName} even though I was never overdrawn`,
    (s) => `There is a ${s.fee} charge I don't understand`,
    (s) => `Please reverse the ${s.feeName} taken ${s.day}`,
    (s) => `I dispute the ${s.fee} fee on my account`,
    (s) => `charged twice for the same ${s.feeName}`,
    (s) => `Why have you taken ${s.fee} from my account as a fee?`,
    (s) => `The ${s.feeName} is wrong, my salary was paid in on time`,
    (s) => `I was told there would be no ${s.feeName} on this account`,
    (s) => `can you waive the ${s.feeName}? it was a mistake`,
    (s) => `${cap(s.fee)} charge for ${s.aFeeName}, I want it back`,
    (s) => `I'm unhappy about the ${s.feeName} you applied`,
    (s) => `${cap(s.aFeeName)} appeared on my account ${s.day}, please explain and refund`,
    (s) => `too many fees on my account this month`,
    (s) => `Complaint about the ${s.fee} ${s.feeName}`,
    // test only
    (s) => `I don't agree with the ${s.feeName} of ${s.fee}, please refund it`,
    (s) => `What is this ${s.fee} charge? I never agreed to it`,
    (s) => `Please cancel the ${s.feeName}, it was not my fault`,
    (s) => `You have charged me ${s.aFeeName} by mistake`,
    (s) => `I'd like to challenge a ${s.fee} fee from ${s.day}`,
    (s) => `refund the ${s.feeName} please`,
  ],
  address_change: [
    (s) => `I moved to ${s.town}, how do I update my address?`,
    (s) => `Please change my address on my account`,
    (s) => `new address, need to update my details`,
    (s) => `I'm moving house next month and need to change my address`,
    (s) => `My letters are still going to my old address`,
    (s) => `update postal address to my new flat in ${s.town}`,
    (s) => `How can I change the address on my ${s.card}?`,
    (s) => `I have relocated to ${s.town}. Please update my records.`,
    (s) => `change of address request`,
    (s) => `I need to update my home address online`,
    (s) => `We have moved, please send post to the new address`,
    (s) => `my address is wrong on my account`,
    (s) => `Can I change my correspondence address on ${s.device}?`,
    (s) => `please update the address you have for me, I moved ${s.day}`,
    (s) => `what documents do I need to change my address?`,
    (s) => `I'd like to register my new address in ${s.town}`,
    (s) => `Address update please, moved out of my parents' house`,
    (s) => `my billing address has changed`,
    // test only
    (s) => `Just moved to ${s.town} and want my bank details to show the new address`,
    (s) => `How do I tell you I've changed address?`,
    (s) => `please amend my residential address`,
    (s) => `Your records have my old street, I live somewhere else now`,
    (s) => `I need to change where my cards and statements are posted`,
    (s) => `new home address since ${s.since}, update needed`,
  ],
  statement_request: [
    (s) => `I need a bank statement for ${s.reason}`,
    (s) => `Can you send me statements for ${s.months}?`,
    (s) => `how do I download my statement`,
    (s) => `Please send me a copy of my statement`,
    (s) => `I need my statements from ${s.months} for ${s.reason}`,
    (s) => `can I get a stamped statement for ${s.reason}?`,
    (s) => `where can I find my monthly statement on ${s.device}?`,
    (s) => `Request for account statement`,
    (s) => `I want a paper statement posted to me`,
    (s) => `How do I get a statement older than a year?`,
    (s) => `I haven't received my statement this month, please send one`,
    (s) => `I need proof of my transactions for ${s.months}`,
    (s) => `Could you email me a PDF statement for ${s.months}?`,
    (s) => `statement needed urgently for ${s.reason}`,
    (s) => `Please provide an annual statement for my savings account`,
    (s) => `I need a printed statement of my account`,
    (s) => `Can I order statements for ${s.months} through ${s.device}?`,
    (s) => `send me my bank statements please`,
    // test only
    (s) => `My accountant needs my statements covering ${s.months}`,
    (s) => `Is it possible to get a copy of last year's statements?`,
    (s) => `I require an official bank statement for ${s.reason}`,
    (s) => `how can I print my statements from ${s.device}`,
    (s) => `please post me statements for ${s.months}`,
    (s) => `Need a statement showing my balance for ${s.reason}`,
  ],
};

const GREETINGS = ['Hi, ', 'Hello, ', 'Hi there. ', 'Good morning, ', 'Dear Sir or Madam, ', 'Hey, '];
const SIGNOFFS = [' Thanks', ' Thank you.', ' Thanks in advance!', ' Please help.', ' Regards, Sam', ' Cheers', ' Many thanks, Priya'];
const CONTEXT = [
  "I've been a customer for years and this has never happened before.",
  'This is really stressful.',
  "I'm writing from my work email.",
  'I tried calling but the line was busy.',
  'Please get back to me as soon as you can.',
  "I'm abroad at the moment.",
];

function typo(r, text) {
  const words = text.split(' ');
  const idx = words.map((w, i) => [w, i]).filter(([w]) => /^[a-z]{5,}$/i.test(w));
  if (idx.length === 0) return text;
  const [w, i] = r.pick(idx);
  const k = 1 + r.int(w.length - 3);
  const kind = r.int(3);
  let out;
  if (kind === 0)
    out = w.slice(0, k) + w[k + 1] + w[k] + w.slice(k + 2); // swap
  else if (kind === 1)
    out = w.slice(0, k) + w.slice(k + 1); // drop
  else out = w.slice(0, k) + w[k] + w.slice(k); // double
  words[i] = out;
  return words.join(' ');
}

/** One ticket from a template: its plain text (`core`) and the text dressed up with the PRNG. */
function ticket(r, tpl) {
  const s = Object.fromEntries(Object.entries(S).map(([k, v]) => [k, r.pick(v)]));
  s.aFeeName = (/^[aeiou]/.test(s.feeName) ? 'an ' : 'a ') + s.feeName;
  const core = cap(tpl(s));
  let t = core;
  if (r.chance(0.15)) t = `${t.replace(/[.!?]*$/, '.')} ${r.pick(CONTEXT)}`;
  if (r.chance(0.3)) t = r.pick(GREETINGS) + t.charAt(0).toLowerCase() + t.slice(1);
  if (r.chance(0.2)) t = t.replace(/[.!?]*$/, '.') + r.pick(SIGNOFFS);
  if (r.chance(0.35)) t = typo(r, t);
  if (r.chance(0.1)) t = typo(r, t);
  if (r.chance(0.25)) t = t.toLowerCase();
  if (r.chance(0.3)) t = t.replace(/[.!?]+$/, '');
  return { core, text: t.replace(/ +/g, ' ').trim() };
}

export const intentPrompt = (text) => `Ticket: ${text}\nIntent:`;

/** `train` (trainPerLabel × 6) and `test` (testPerLabel × 6), balanced, no ticket in both. */
export function intentDataset(seed = 11, trainPerLabel = 50, testPerLabel = 15) {
  const r = new Rng(seed);
  const seen = new Set();
  const train = [];
  const test = [];
  const seenCore = new Set();
  const draw = (templates, n, out, label) => {
    let tries = 0;
    let got = 0;
    while (got < n) {
      if (++tries > n * 400) throw new Error(`cannot draw ${n} distinct tickets for ${label}`);
      const { core, text } = ticket(r, templates[(got + tries) % templates.length]);
      const key = norm(text);
      // A new plain ticket where possible; the same plain ticket dressed differently only as a last resort.
      if (seen.has(key) || (seenCore.has(norm(core)) && tries < n * 200)) continue;
      seen.add(key);
      seenCore.add(norm(core));
      out.push({ prompt: intentPrompt(text), completion: ` ${label}` });
      got++;
    }
  };
  for (const label of INTENT_LABELS) {
    const tpl = T[label];
    // Test first, from the test-only templates; then train from the others.
    draw(tpl.slice(-TEST_TEMPLATES), testPerLabel, test, label);
    draw(tpl.slice(0, -TEST_TEMPLATES), trainPerLabel, train, label);
  }
  return { train: r.shuffle(train), test: r.shuffle(test) };
}
