// Demo dataset 1: customer-support replies in Whetstone Bank's house voice (chat format).
// Each topic has customer messages (templates over a few slots) and one reply recipe written in the house
// voice: a thanks, an empathetic line, numbered steps, a security or timing note, an offer of more help and
// a sign-off. The last customer template of each topic is kept for the held-out set only, so held-out
// prompts are phrasings the training set never shows.

import { Rng, norm } from './rng.mjs';

export const SUPPORT_SYSTEM =
  "You are the customer care assistant of Whetstone Bank. Reply to the customer courteously and helpfully, in the bank's house voice.";

/** The held-out prompt the demo shows before and after fine-tuning. */
export const SUPPORT_SHOWCASE = "I can't log into my net banking account. What to do?";

const HELPLINE = '0800 555 0199';
const SITE = 'whetstonebank.example';

const WHEN = ['this morning', 'yesterday', 'since last night', 'for two days now', 'since Monday', 'all week'];
const DAYS = ['yesterday', 'two days ago', 'on Friday', 'last Tuesday', 'three days ago', 'this morning'];
const CARD = ['debit card', 'credit card'];
const AMOUNT = ['£45.00', '£120.00', '£18.99', '£250.00', '£1,200.00', '£75.50', '£9.99', '£600.00', '£32.40', '£3,000.00'];
const COUNTRY = ['Spain', 'Portugal', 'Italy', 'Japan', 'Canada', 'Greece', 'Thailand', 'the United States', 'France', 'Mexico'];
const MERCHANT = [
  'QUIKSHOP ONLINE',
  'FASTFARE TRAVEL',
  'MKTPLACE LTD',
  'STREAMPLUS',
  'CITY PARKING 22',
  'GAMEZONE DIGITAL',
  'BRIGHTHOME SUPPLIES',
];
const PAYEE = ['my landlord', 'my sister', 'a supplier', 'my son', 'my builder', 'a friend', 'my daughter at university', 'the garage'];
const PLACE = ['the supermarket', 'the train station', 'a taxi', 'the gym', 'a restaurant', 'the airport', 'the high street'];
const ATM = [
  'the cash machine on Mill Road',
  'an ATM at the station',
  'the machine outside your Bridge Street branch',
  'a cash machine in the shopping centre',
];
const FEE = ['£6.00', '£12.00', '£15.00', '£25.00', '£8.50'];

const EMPATHY_PREFIX = ["I'm sorry to hear", 'I am sorry to hear', "I'm really sorry to hear"];

const CLOSINGS = [
  `If anything is unclear, simply reply to this message and we will be glad to help further.`,
  `Should you need any further help, our team is available 24 hours a day on ${HELPLINE}.`,
  `If you have any other questions, please don't hesitate to get in touch. We're always happy to help.`,
  `We appreciate your patience, and we're here whenever you need us on ${HELPLINE}.`,
];

const SIGNOFFS = ['Warm regards,\nWhetstone Bank Customer Care', 'Kind regards,\nWhetstone Bank Customer Care'];

const INTROS = [
  'Here is what to do:',
  'Please follow these steps:',
  'Here is how to sort this out:',
  'This is the quickest way to resolve it:',
];

const SECURITY = `For your security, Whetstone Bank will never ask for your full password, PIN or a one-time passcode by phone, email or text message.`;

/**
 * A reply in the house voice. `empathy` completes "I'm sorry to hear …" (or is a full sentence when it starts
 * with a capital letter), `help` is the sentence after it, `steps` the numbered list, `note` an optional
 * paragraph after the steps.
 */
function reply(r, { empathy, help, steps, note }) {
  const first = /^[A-Z]/.test(empathy) ? empathy : `${r.pick(EMPATHY_PREFIX)} ${empathy}`;
  const parts = [`Thank you for reaching out to Whetstone Bank. ${first}${help ? ' ' + help : ''}`];
  parts.push(`${r.pick(INTROS)}\n${steps.map((s, i) => `${i + 1}. ${s}`).join('\n')}`);
  if (note) parts.push(note);
  parts.push(r.pick(CLOSINGS));
  parts.push(r.pick(SIGNOFFS));
  return parts.join('\n\n');
}

const pickSlots = (r) => ({
  when: r.pick(WHEN),
  day: r.pick(DAYS),
  card: r.pick(CARD),
  amount: r.pick(AMOUNT),
  country: r.pick(COUNTRY),
  merchant: r.pick(MERCHANT),
  payee: r.pick(PAYEE),
  place: r.pick(PLACE),
  atm: r.pick(ATM),
  fee: r.pick(FEE),
});

// ---------------------------------------------------------------------------------------------------------
// Topics. `users`: customer messages; the LAST one is held out. `reply(s, r)`: the house-voice answer.

const TOPICS = [
  {
    id: 'login_general',
    users: [
      (s) => `I can't log in to my online banking. It has been like this ${s.when}.`,
      () => `net banking not working, cant login`,
      (s) =>
        `Hello, I've been trying to sign in to internet banking ${s.when} and it keeps telling me my details are wrong. I'm sure I'm typing the right password. What should I do?`,
      () => `Your website won't let me log in. It just goes back to the login page every time.`,
      () => `Why can't I get into my net banking account??`,
      () => `Hi, I'm unable to access my internet banking. Could you please help me?`,
      () => `How do I get back into my online account? Nothing I try works.`,
      () => `Can't access my online banking anymore, what do I do?`,
    ],
    extraHeldout: [() => SUPPORT_SHOWCASE],
    reply: (s, r) =>
      reply(r, {
        empathy: "that you're having trouble signing in to net banking.",
        help: "I know how frustrating that is, and I'll gladly help you get back into your account.",
        steps: [
          `Go to ${SITE} and select "Log in", then choose "Forgotten your password?".`,
          'Enter your customer ID and date of birth, and confirm with the one-time passcode we send to your registered mobile number.',
          "Create a new password of at least 10 characters that you haven't used with us before, and sign in with it.",
          'If you see the message "Account locked", resetting your password as above unlocks it straight away.',
          "Still no luck? Try a different browser or clear your browser's cache, as an old saved page can stop the login from working.",
        ],
        note: SECURITY,
      }),
  },
  {
    id: 'login_locked',
    users: [
      () => `My net banking account is locked after too many attempts. Please help.`,
      () => `I typed my password wrong three times and now it says my account is locked. How long do I have to wait?`,
      () => `ACCOUNT LOCKED again!! This is the second time this month.`,
      (s) => `Good afternoon. My online banking was locked ${s.day} and I still can't get in. Can you unlock it for me?`,
      () => `locked out of internet banking, what now`,
      () => `It says "Account locked, please contact us". What does that mean?`,
      () => `Could you unlock my online banking please? I think I entered the wrong memorable word too many times.`,
      () => `Help, I've been locked out of my account online.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that you've been locked out of net banking.",
        help: 'We lock an account after several unsuccessful attempts to protect it, and it is easy to unlock.',
        steps: [
          `Visit ${SITE}, select "Log in" and then "Forgotten your password?".`,
          'Confirm your identity with your customer ID, your date of birth and the one-time passcode sent to your registered mobile number.',
          'Choose a new password. Your account is unlocked as soon as the new password is saved.',
          'If you would rather not reset your password, the lock is lifted automatically after 24 hours.',
        ],
        note: `If you didn't make the failed attempts yourself, please call us on ${HELPLINE} so that we can check your account for any unusual activity.`,
      }),
  },
  {
    id: 'login_forgot_id',
    users: [
      () => `I forgot my customer ID for online banking.`,
      () => `where do i find my user id? i want to log in`,
      () => `Hi there, I've lost the letter with my customer number and I can't remember it. How can I log in?`,
      () => `What is my login ID? It's not my account number, is it?`,
      () => `I have a new laptop and I can't remember the username I used for internet banking.`,
      () => `Can you remind me of my customer ID please.`,
      () => `Forgot username for net banking.`,
      () => `I don't know my customer ID and I need to pay a bill today. Please help!`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that you can't find your customer ID.",
        help: "It happens to many of our customers, and it's quick to retrieve.",
        steps: [
          'Your customer ID is the 10-digit number printed on your welcome letter and at the top of your paper statements. It is not the same as your account number.',
          `If you don't have either to hand, go to ${SITE}, select "Log in" and then "Forgotten your customer ID?".`,
          'Enter your card number and date of birth, and we will send your customer ID by text message to your registered mobile number.',
          'Once you have it, you can tick "Remember my customer ID" on a device that only you use.',
        ],
        note: SECURITY,
      }),
  },
  {
    id: 'otp_not_received',
    users: [
      () => `I'm not receiving the OTP to log in.`,
      (s) => `The one-time passcode never arrives on my phone. I've been waiting ${s.when}.`,
      () => `no verification code coming through, tried 5 times`,
      () => `Hello, when I try to make a payment online it asks for a code sent by SMS, but I don't get any text. Can you help?`,
      () => `I changed my mobile number and now the security codes go to my old phone.`,
      () => `Why is the OTP so slow? By the time it arrives it has expired.`,
      () => `Not getting security code texts from you.`,
      () => `The passcode text doesn't come through, so I can't finish logging in. What should I do?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that your one-time passcode isn't reaching you.",
        help: "Let's make sure the codes get through.",
        steps: [
          'Check that your phone has signal and is not in flight mode, and that texts from Whetstone Bank are not blocked or filtered as spam.',
          'Restart your phone, wait a minute, then select "Send a new code". Each code is valid for 5 minutes, and only the latest one works.',
          `Make sure the mobile number we hold for you is current. You can see the last four digits on the passcode screen. If it is out of date, please visit a branch with photo ID or call us on ${HELPLINE} to update it.`,
          'If you travel abroad often, you can switch to passcodes in the Whetstone Bank app, which work without a text message.',
        ],
        note: SECURITY,
      }),
  },
  {
    id: 'app_problem',
    users: [
      () => `Your mobile app keeps crashing when I open it.`,
      () => `app not opening after the update`,
      (s) => `Hi, the Whetstone app has been stuck on the loading screen ${s.when}. I've tried closing it. Any ideas?`,
      () => `The app says "something went wrong" every time I check my balance.`,
      () => `I can't log in on the app but the website works fine. Why?`,
      () => `Is the banking app down? It won't load my accounts.`,
      () => `Fingerprint login stopped working in the app.`,
      () => `The app logs me out every few seconds, it's unusable.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that the Whetstone Bank app isn't working properly for you.",
        help: 'These steps fix most app problems.',
        steps: [
          "Make sure you have the latest version of the app from your phone's app store, and that your phone's software is up to date.",
          'Close the app completely, restart your phone and open the app again.',
          'If it still fails, uninstall and reinstall the app, then sign in with your customer ID and password. Your accounts and payees are kept safely on our side.',
          'After reinstalling, you can switch fingerprint or face login back on under Settings, then Security.',
          `You can check whether we are doing maintenance on the service status page at ${SITE}/status.`,
        ],
        note: `In the meantime, net banking at ${SITE} gives you access to all your accounts.`,
      }),
  },
  {
    id: 'card_lost',
    users: [
      (s) => `I lost my ${s.card}. What should I do?`,
      (s) => `I think I left my ${s.card} at ${s.place} ${s.day}. Can you block it?`,
      () => `cant find my card anywhere, please cancel it`,
      (s) => `Hello, I have misplaced my ${s.card} and I'm worried someone might use it. Please advise.`,
      () => `My card is lost. How do I get a new one?`,
      () => `URGENT: lost card!!`,
      (s) => `I dropped my ${s.card} somewhere in town. Do I need to cancel it or can I freeze it until I look for it?`,
      (s) => `Hi, my ${s.card} has gone missing. Can you help me stop it?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: `that your ${s.card} has gone missing.`,
        help: "Let's protect your account straight away.",
        steps: [
          'Open the Whetstone Bank app, go to Cards and tap "Freeze card". A frozen card cannot be used, and you can unfreeze it if it turns up.',
          'If you are sure the card is lost, tap "Report lost or stolen" instead. This cancels the card permanently and orders a replacement.',
          `You can also call us 24 hours a day on ${HELPLINE} to block the card.`,
          'Your new card will arrive within 3 to 5 working days with the same PIN. Remember to update any regular payments that use the old card number.',
        ],
        note: `Please check your recent transactions. If you see any payment you don't recognise, let us know and we'll look into it for you.`,
      }),
  },
  {
    id: 'card_stolen',
    users: [
      (s) => `My wallet was stolen ${s.day} with my ${s.card} in it.`,
      (s) => `Someone stole my bag at ${s.place}, my ${s.card} was inside. Please help.`,
      () => `my purse got stolen, need to block everything`,
      (s) => `I was pickpocketed in ${s.country} and my ${s.card} is gone. What do I do?`,
      () => `Card stolen. Block it now please.`,
      () => `Good evening, my phone and my bank card were both stolen this afternoon. I'm quite shaken. How do I protect my account?`,
      () => `A thief has taken my credit card. Will I have to pay for what they buy?`,
      (s) => `My ${s.card} was stolen from my car. What happens now?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: `that your ${s.card} was stolen. That must be very upsetting.`,
        help: "We'll make sure nobody else can use it.",
        steps: [
          `Call us straight away on ${HELPLINE} (24 hours a day, also from abroad on +44 20 5550 0199), or open the app, go to Cards and tap "Report lost or stolen".`,
          "We'll cancel the card at once and send a replacement to your home address within 3 to 5 working days.",
          'If your phone was stolen too, please tell us so that we can sign you out of the app on that device.',
          'Report the theft to the police and keep the crime reference number, as it helps if we need to investigate any payments.',
        ],
        note: `You won't be held responsible for payments made with a stolen card after you report it to us. Please review your recent transactions and tell us about any you don't recognise.`,
      }),
  },
  {
    id: 'card_declined_abroad',
    users: [
      (s) => `My card was declined in ${s.country}. I have money in my account.`,
      (s) => `I'm on holiday in ${s.country} and my ${s.card} isn't working in shops.`,
      () => `why does my card keep getting declined abroad`,
      (s) => `Hi, I'm travelling to ${s.country} next week. Do I need to tell you so my card works there?`,
      () => `Card rejected at a hotel overseas, very embarrassing. What is going on?`,
      (s) => `The cash machines in ${s.country} won't give me money with my Whetstone card.`,
      () => `Payment declined in a foreign restaurant although I have plenty of funds.`,
      () => `Do I need to let you know before I travel abroad with my card?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: 'that your card was declined while you were abroad.',
        help: "I understand how stressful that can be away from home, so let's get it working again.",
        steps: [
          'Open the app and check Cards, then Card controls: make sure "Payments abroad" is switched on and the card is not frozen.',
          'If we have sent you a text asking whether a payment was you, reply to it. We pause a card when a payment looks unusual, and your reply releases it.',
          'Check the daily limits shown in the app. Cash withdrawals are limited to £500 a day.',
          'If a shop terminal still declines the card, try the chip and PIN instead of contactless, or pay in the local currency.',
        ],
        note: `You don't need to tell us before you travel, though adding your trip in the app under Travel plans helps us recognise your payments. From abroad you can reach us on +44 20 5550 0199.`,
      }),
  },
  {
    id: 'pin_forgotten',
    users: [
      (s) => `I forgot the PIN for my ${s.card}.`,
      () => `how do i reset my card pin`,
      () => `My PIN is blocked after three wrong tries at the ATM. What now?`,
      (s) => `Hello, I haven't used my ${s.card} in a while and I can't remember the PIN. Can you send it to me?`,
      () => `I never received a PIN for my new card.`,
      () => `Can I change my PIN to something easier to remember?`,
      () => `PIN locked, help`,
      () => `What should I do if I can't remember my PIN number?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that you're having trouble with your PIN.",
        help: 'You can see or change it in a few minutes.',
        steps: [
          'Open the Whetstone Bank app, go to Cards, choose your card and tap "View PIN". You will be asked to confirm your identity first.',
          'If your PIN is blocked after too many wrong attempts, go to any Whetstone Bank cash machine, insert your card and choose "PIN services", then "Unblock PIN".',
          'To choose a new PIN, use "Change PIN" at any of our cash machines. Please avoid obvious numbers such as 1234 or your date of birth.',
          `If you don't use the app, call us on ${HELPLINE} and we'll post a PIN reminder to your home address within 5 working days.`,
        ],
        note: SECURITY,
      }),
  },
  {
    id: 'card_not_arrived',
    users: [
      () => `My new card hasn't arrived yet.`,
      (s) => `I ordered a replacement ${s.card} two weeks ago and it still isn't here.`,
      () => `where is my new debit card? my old one expires this month`,
      () => `Hi, I was told my card would come within a week. It's been ten days. Can you check?`,
      () => `The card you sent has not been delivered.`,
      () => `Has my new card been posted? I moved house recently.`,
      () => `still no card in the post, how much longer`,
      () => `I was expecting my renewed card by now but nothing has come.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that your new card hasn't reached you yet.",
        help: "Let's find out where it is.",
        steps: [
          'In the app, go to Cards to see when your card was sent and to which address.',
          'Cards normally arrive within 3 to 5 working days of being sent. Please allow until the end of that time, as post can be delayed.',
          `If the address shown is not your current one, please update it first (Profile, then Address) and then call us on ${HELPLINE}.`,
          'If 7 working days have passed, tap "Card not arrived" in the app. We will cancel the card in the post and send a new one by tracked delivery.',
        ],
        note: `Until your new card arrives you can keep using your current card until the end of its expiry month, and you can pay with your phone as soon as the new card is issued, using the card details in the app.`,
      }),
  },
  {
    id: 'atm_retained_card',
    users: [
      (s) => `The ATM swallowed my card ${s.day}.`,
      (s) => `${s.atm.charAt(0).toUpperCase() + s.atm.slice(1)} kept my card and didn't give it back!`,
      () => `cash machine ate my card what do i do`,
      () => `Hello, I was withdrawing cash and the machine kept my card. Can I collect it?`,
      () => `The machine retained my card after I entered the PIN. Is my account safe?`,
      () => `My card got stuck in an ATM at the weekend, how do I get it back?`,
      () => `ATM didn't return my card.`,
      () => `A cash machine has kept hold of my debit card. What happens next?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: 'that a cash machine kept your card.',
        help: "Don't worry, we'll make sure your account stays safe.",
        steps: [
          'Open the app, go to Cards and tap "Report lost or stolen", or call us on ' +
            HELPLINE +
            '. Retained cards are destroyed for security, so we will send you a new one.',
          'Your new card will arrive within 3 to 5 working days with the same PIN.',
          'Check your recent transactions. If the machine kept your card during a withdrawal, any amount that was not paid out will be returned to your account automatically within 5 working days.',
          'If you noticed anything attached to the machine, or someone standing close to you, please tell us and the bank or shop that runs the machine.',
        ],
        note: 'While you wait, you can still pay by phone with your card details from the app, and withdraw cash in any branch with photo ID.',
      }),
  },
  {
    id: 'atm_no_cash',
    users: [
      (s) => `The ATM didn't give me cash but my account was debited ${s.amount}.`,
      (s) => `I tried to withdraw ${s.amount} at ${s.atm} ${s.day}. No money came out, but it's gone from my balance.`,
      () => `atm no cash but money taken from account`,
      () => `Hi, the cash machine made a noise and then showed an error. I didn't get my money, yet the withdrawal is on my statement.`,
      () => `Money deducted, cash not dispensed. Please refund.`,
      (s) => `The machine only gave me part of the ${s.amount} I asked for.`,
      () => `Withdrawal failed at the ATM but my account shows it went through.`,
      () => `I was charged for a cash withdrawal that never came out of the machine.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that the cash machine took the money from your account but didn't give you the cash.",
        help: "I understand how worrying that is, and we'll make sure it's put right.",
        steps: [
          'In most cases the machine reports the error itself and the amount is returned to your account automatically within 5 working days.',
          'If it has not been returned after 5 working days, open the app, select the withdrawal and tap "Report a problem", then choose "Cash not received".',
          "Please tell us the date, time and location of the machine. We will ask the machine's operator to check its cash count.",
          'We aim to resolve these claims within 10 working days and will keep you updated by message in the app.',
        ],
        note: "If the machine belongs to another bank, the process is the same. We'll contact them on your behalf.",
      }),
  },
  {
    id: 'transfer_failed',
    users: [
      (s) => `I sent ${s.amount} to ${s.payee} ${s.day} and they haven't received it.`,
      (s) => `My transfer of ${s.amount} failed but the money has left my account.`,
      () => `payment not received by the other person, money gone from mine`,
      (s) => `Hi, I transferred money to ${s.payee} ${s.day}. The app says "completed" but they say nothing has arrived. Where is it?`,
      () => `Why did my bank transfer fail? It says "payment could not be processed".`,
      () => `Transfer stuck as pending for two days. Please check.`,
      (s) => `The ${s.amount} I paid to ${s.payee} bounced back. Why?`,
      (s) => `Hello, a payment of ${s.amount} I made ${s.day} hasn't reached the recipient's account. Can you trace it?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that your payment hasn't reached the person you sent it to.",
        help: "I know that's worrying, so let's find out where it is.",
        steps: [
          'In the app, open the payment under Transactions to see its status and the account details it was sent to.',
          'Payments between UK accounts normally arrive within 2 hours, though some are held for security checks for up to one working day.',
          'If the status is "Returned", the receiving bank could not match the details, and the money will be back in your account within 2 working days. Please check the sort code, account number and name, then send it again.',
          'If the status is "Completed" and the recipient still has nothing after one working day, tap "Trace this payment". We will contact the receiving bank and update you within 5 working days.',
        ],
        note: 'When a payment is traced, the receiving bank usually finds it quickly, so please ask the recipient to check with their bank too.',
      }),
  },
  {
    id: 'transfer_wrong_account',
    users: [
      (s) => `I sent ${s.amount} to the wrong account by mistake.`,
      () => `I typed the account number wrong and the money went to a stranger. Can I get it back?`,
      () => `paid wrong person, help!!`,
      (s) => `Hello, I made a payment to ${s.payee} ${s.day} but I think I used an old account number. Can you reverse it?`,
      () => `Can you cancel a transfer I just made? It went to the wrong person.`,
      () => `I accidentally paid my electricity bill to the gas company. How do I recover it?`,
      () => `Money sent to an incorrect account, what are my options?`,
      () => `I've made a mistake with the sort code on a payment. Can it be undone?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: 'that your payment went to the wrong account.',
        help: "Please don't worry, we'll do everything we can to help you recover it.",
        steps: [
          'Let us know as soon as possible: in the app, open the payment and tap "Report a problem", then "I sent it to the wrong account", or call us on ' +
            HELPLINE +
            '.',
          'We will contact the receiving bank the same working day and ask them to return the money.',
          'If the recipient agrees, or the account is not in use, the money usually comes back within 10 working days.',
          "If it can't be recovered this way, we'll explain how you can ask the receiving bank for the recipient's details so that you can claim it directly.",
        ],
        note: 'Payments that have already been sent cannot be cancelled, but acting quickly gives the best chance of recovery. Next time, our "Confirm the name" check will warn you if the name doesn\'t match the account.',
      }),
  },
  {
    id: 'international_transfer',
    users: [
      (s) => `How long does an international transfer to ${s.country} take?`,
      (s) => `I need to send money to my family in ${s.country}. How do I do that?`,
      () => `what do i need to send money abroad`,
      (s) => `Hi, I sent an international payment ${s.day} and it hasn't arrived yet. Is that normal?`,
      () => `What is a SWIFT code and where do I find it?`,
      () => `How much does it cost to make a payment overseas?`,
      () => `Can I send euros from my pound account?`,
      (s) => `I'd like to transfer ${s.amount} to an account in ${s.country}. What details will you need?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'd be glad to help you send money abroad.",
        help: "Here's everything you need for an international payment.",
        steps: [
          "Ask the recipient for their full name and address, their IBAN or account number, and their bank's SWIFT/BIC code (an 8 or 11 character code that identifies their bank).",
          'In the app, go to Payments, then "Pay someone abroad", and enter these details. You can choose to send pounds or the local currency, and we show you the exchange rate before you confirm.',
          'Payments in euros to Europe usually arrive within 1 working day; other currencies and countries take 2 to 4 working days.',
          `Our fee for an international payment is £5, and the recipient's bank may also charge a fee. You'll find all our charges at ${SITE}/fees.`,
        ],
        note: 'If a payment hasn\'t arrived after 4 working days, tap "Trace this payment" in the app and we\'ll follow it up with the banks involved.',
      }),
  },
  {
    id: 'transfer_limit',
    users: [
      () => `What is the daily limit for online transfers?`,
      (s) => `I'm trying to send ${s.amount} but the app says I've reached my limit.`,
      () => `can i increase my transfer limit? buying a car`,
      () => `Hi, I need to pay a deposit of £15,000 for a house. Can I do that online?`,
      () => `The app won't let me send a large payment. Why?`,
      () => `How much can I transfer in one day?`,
      () => `Is there a maximum amount I can move to another bank?`,
      () => `Payment blocked for being over my limit, how do I raise it?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'm glad you checked with us before making your payment.",
        help: "I'm happy to explain how our limits work.",
        steps: [
          'You can send up to £10,000 a day to other accounts in net banking or the app, and up to £25,000 a day between your own Whetstone Bank accounts.',
          'To send more for a one-off payment, such as a house deposit or a car, call us on ' +
            HELPLINE +
            ' or visit a branch with photo ID. We can make the payment for you the same day.',
          'You can also lower your own limit at any time in the app, under Payments, then Limits.',
          'Large payments to new payees may be held for a short security check, and we may call you to confirm them.',
        ],
        note: 'These limits help protect your money from fraud. We will never ask you to move money to a "safe account".',
      }),
  },
  {
    id: 'statement_download',
    users: [
      () => `How do I download my bank statement?`,
      () => `I need my last three months of statements for a mortgage application.`,
      () => `where can i get a statement pdf`,
      () => `Hi, my landlord wants a bank statement. Can I print one from net banking?`,
      () => `Can I get statements older than one year?`,
      () => `I need a stamped statement for my visa application.`,
      () => `Please send me my account statement.`,
      () => `How can I get a copy of my statements for the last six months?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'd be happy to help you get your statements.",
        help: "You can get them in a few clicks, and we're glad to help with anything they don't cover.",
        steps: [
          `Sign in to net banking at ${SITE} or open the app, and select the account.`,
          'Choose "Statements", pick the month you need and select "Download PDF". Statements from the last 7 years are available.',
          'For a mortgage or rental application, the PDF statement is usually accepted as it is. You can download several months and send them together.',
          'If you need a statement stamped by the bank, for example for a visa, bring your printed statements and photo ID to any branch and we will stamp them free of charge.',
        ],
        note: `If you'd prefer paper statements, you can order copies in the app under Statements, then "Order a paper copy". Each copy costs £5 and arrives within 5 working days.`,
      }),
  },
  {
    id: 'statement_paper',
    users: [
      () => `I want to receive my statements by post again.`,
      () => `I stopped getting paper statements. Why?`,
      () => `switch me to paper statements please`,
      () => `Hello, my mother doesn't use the internet. Can her statements be posted to her?`,
      () => `Can I stop paper statements and go paperless?`,
      () => `How often will you send me a statement?`,
      () => `I haven't received my monthly statement this month.`,
      () => `Could you change my statement preference to paper?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'm happy to help you choose how you receive your statements.",
        help: "It's easy to change.",
        steps: [
          'In the app or net banking, go to Profile, then "Statement preferences".',
          'Choose "Paper" to receive statements by post, or "Paperless" to receive them online only. Paper statements are free and sent once a month if there were any transactions.',
          `If you don't use online banking, call us on ${HELPLINE} or visit a branch and we'll change it for you. Someone with power of attorney can also ask on another person's behalf.`,
          'Your new preference applies from your next statement date.',
        ],
        note: 'If a paper statement has not arrived, please check that the address we hold for you is correct, as statements are not forwarded by the post office.',
      }),
  },
  {
    id: 'fee_overdraft',
    users: [
      (s) => `Why was I charged an overdraft fee of ${s.fee}?`,
      (s) => `I only went overdrawn for one day and you charged me ${s.fee}. That's not fair.`,
      () => `overdraft charge on my account, can you refund it`,
      () => `Hi, I see an "arranged overdraft interest" charge this month. What is it for?`,
      () => `I was charged for going into my overdraft because my salary was late. Can you waive it?`,
      (s) => `Please explain the ${s.fee} fee on my last statement.`,
      () => `Unexpected fee on my current account.`,
      (s) => `You've taken ${s.fee} from my account for an overdraft. I'd like it refunded please.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that you've been charged for using your overdraft.",
        help: "I understand it's disappointing, and I'll explain how it works and what we can do.",
        steps: [
          'Overdraft interest is charged at the rate shown in your account terms for each day your balance is below zero. It is added to your account once a month, and we tell you the amount 14 days before we take it.',
          'You can see how the charge was worked out in the app: open the fee under Transactions and tap "How was this calculated?".',
          'If this was a one-off, for example because your salary arrived late, you can ask us to review it: tap "Question this fee" on the transaction, or reply to this message with the details.',
          'To avoid future charges, you can switch on low balance alerts under Settings, then Notifications.',
        ],
        note: `If you are finding it difficult to manage your money, please talk to us in confidence on ${HELPLINE}. We can help in several ways, including pausing charges.`,
      }),
  },
  {
    id: 'fee_card',
    users: [
      (s) => `Why did you charge me ${s.fee} for using my card abroad?`,
      () => `What is this "non-sterling transaction fee" on my statement?`,
      () => `annual fee on credit card, i was told it was free`,
      (s) => `Hi, I was charged ${s.fee} for taking cash out on my credit card. Is that right?`,
      () => `I don't understand the foreign exchange fee on my last purchase.`,
      () => `Can the annual card fee be waived?`,
      () => `There is a cash advance fee on my account. What does it mean?`,
      (s) => `I've been charged ${s.fee} as a card fee and I don't recognise it. Please explain.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that the card fee wasn't what you expected.",
        help: "Let me explain what it is and how to question it if it doesn't look right.",
        steps: [
          'Payments in a foreign currency carry a 2.75% non-sterling transaction fee, shown next to the payment on your statement.',
          'Cash withdrawals on a credit card are treated as a cash advance: a 3% fee (minimum £3) applies, and interest is charged from the day of the withdrawal.',
          `Annual fees apply only to some credit cards and are listed in your card agreement. You'll find all our charges at ${SITE}/fees.`,
          'If you think a fee was charged in error, open the transaction in the app and tap "Question this fee". We review every request within 5 working days.',
        ],
        note: 'If you travel often, ask us about our travel debit card, which has no foreign transaction fees.',
      }),
  },
  {
    id: 'fraud_unknown_transaction',
    users: [
      (s) => `There's a payment of ${s.amount} to ${s.merchant} on my account that I didn't make.`,
      (s) => `I don't recognise a transaction from ${s.merchant} ${s.day}. Is it fraud?`,
      () => `someone used my card!! money taken i did not spend`,
      (s) => `Hello, I've just noticed three payments on my ${s.card} that weren't me. What should I do?`,
      (s) => `Unknown charge of ${s.amount} on my statement.`,
      () => `I think my card has been cloned, there are payments from another country.`,
      () => `Money has disappeared from my account and I didn't authorise it.`,
      (s) => `I've spotted a ${s.amount} payment I didn't make. How do I report it?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "that there are payments on your account that you don't recognise.",
        help: "Please don't worry, we'll act on this straight away.",
        steps: [
          'Freeze your card at once in the app (Cards, then "Freeze card") so that no more payments can be made.',
          "Check whether the payment might be genuine: some shops use a different name on statements, and you can tap the payment to see the merchant's full details.",
          `If you still don't recognise it, tap "I don't recognise this" on the payment, or call our fraud team 24 hours a day on ${HELPLINE}.`,
          'We will cancel your card, send a new one, and investigate. If the payment was fraudulent, we will refund it, normally within one working day of your report.',
        ],
        note: SECURITY,
      }),
  },
  {
    id: 'phishing',
    users: [
      () => `I got a text saying my account is suspended and I need to click a link. Is it from you?`,
      () => `Someone called claiming to be from Whetstone Bank and asked for my PIN.`,
      () => `received a suspicious email from "whetstone security", is it real?`,
      () => `Hi, I clicked a link in a message that looked like it was from you and entered my details. I'm worried now.`,
      () => `A man phoned saying my money is at risk and I must move it to a safe account. Should I?`,
      () => `How do I report a scam email pretending to be Whetstone Bank?`,
      () => `Is this text about a new payee on my account genuine? I didn't add anyone.`,
      () => `I think I've been sent a fake message from the bank. What should I do with it?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: 'You were absolutely right to check with us before doing anything.',
        help: 'Messages like this are very often scams.',
        steps: [
          'Don\'t click any links, reply, or call the numbers in the message. Whetstone Bank will never ask for your PIN, full password or a one-time passcode, and will never ask you to move money to a "safe account".',
          'Forward suspicious emails to report@' + SITE + ' and suspicious texts to 7726, then delete them.',
          `If you have already entered your details or made a payment, call us immediately on ${HELPLINE}. We'll secure your account and help you reset your details.`,
          'If you are ever unsure whether a call is really from us, hang up and call the number on the back of your card.',
        ],
        note: 'You can see the latest scams we know about at ' + SITE + '/security.',
      }),
  },
  {
    id: 'address_change',
    users: [
      () => `I've moved house. How do I update my address?`,
      () => `Please change my address on my account.`,
      () => `new address, how to update it online`,
      () => `Hello, we're moving next month. Can I change my address in advance?`,
      () => `My statements are going to my old flat. Can you fix that?`,
      () => `How do I change the address on my credit card?`,
      () => `I need to update my correspondence address, what documents do you need?`,
      () => `Could you update my home address? I moved recently.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: 'Congratulations on your new home, and thank you for letting us know.',
        help: 'Keeping your address up to date makes sure your cards and letters reach you safely.',
        steps: [
          'In the app or net banking, go to Profile, then Address, and select "Change address".',
          'Enter your new address and the date you move. You can set a future date if you are moving soon.',
          'Confirm the change with the one-time passcode we send to your registered mobile number. The new address is used for all your accounts and cards.',
          "If we can't confirm your new address electronically, we'll ask you to upload a recent utility bill or council tax letter in the app.",
        ],
        note: `If you'd prefer to do this in person, visit any branch with photo ID and proof of your new address. Remember to ask the post office to redirect your mail for a few months as well.`,
      }),
  },
  {
    id: 'contact_change',
    users: [
      () => `I have a new mobile number. How do I update it?`,
      () => `How can I change the email address on my account?`,
      () => `lost my old phone number, need to change it for OTPs`,
      () => `Hi, my phone number has changed and I can't receive your codes. What should I do?`,
      () => `Can I update my phone number online?`,
      () => `Please change my email address, I no longer use the old one.`,
      () => `How do I change my contact details?`,
      () => `My mobile number is out of date on your records. How can I correct it?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'm glad to help you update your contact details.",
        help: 'It helps us reach you and keeps your account secure.',
        steps: [
          'To change your email address, go to Profile, then Contact details in the app or net banking, and confirm the change from the new address.',
          'To change your mobile number while you still have the old phone, go to Profile, then Contact details, and confirm with codes sent to both numbers.',
          `If you no longer have the old number, please visit any branch with photo ID, or call us on ${HELPLINE} and we'll confirm your identity another way.`,
          'For your security, new payees and large payments may be paused for 24 hours after a mobile number changes.',
        ],
        note: `We'll send a confirmation to your old email address or number as well, so that you'd know if anyone else tried to change your details.`,
      }),
  },
  {
    id: 'close_account',
    users: [
      () => `How do I close my account?`,
      () => `I want to close my savings account and move the money.`,
      () => `close my account please, i'm switching banks`,
      () => `Hello, my late father had an account with you. How do we close it?`,
      () => `Can I close a joint account online?`,
      () => `What happens to my direct debits if I close my account?`,
      () => `I'd like to cancel my current account.`,
      () => `Please tell me how to shut my Whetstone account.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "We're sorry to see you go, and we'll make it as smooth as possible.",
        help: '',
        steps: [
          "If you're moving to another bank, the easiest way is to ask your new bank to use the Current Account Switch Service. It moves your balance, direct debits and standing orders for you and closes your account with us.",
          'To close an account yourself, first move any money out and make sure no payments are due, then go to the account in the app and select "Close account".',
          'A joint account needs both account holders to agree, so each of you will be asked to confirm.',
          `If you're dealing with the account of someone who has died, please accept our condolences. Call our bereavement team on ${HELPLINE}; they'll guide you through each step and there's no rush.`,
        ],
        note: "We'll send you a final statement once the account is closed. If there's anything we could have done better, we'd truly value your feedback.",
      }),
  },
  {
    id: 'cheque_book',
    users: [
      () => `How do I order a new cheque book?`,
      () => `I need a cheque book for my current account.`,
      () => `cheque book request`,
      () => `Hi, I've used my last cheque. Can you send me another book?`,
      () => `How long does a cheque book take to arrive?`,
      () => `Can I pay in a cheque with the app?`,
      () => `I want to stop a cheque I wrote last week.`,
      () => `Could I get a new chequebook sent to me please?`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'm happy to help with your cheque book.",
        help: '',
        steps: [
          'To order a cheque book, open the app, select your current account and choose "Order a cheque book". It is free and arrives within 7 working days.',
          'To pay in a cheque, choose "Pay in a cheque" in the app and take a photo of the front. The money is usually in your account by 11.59pm on the next working day.',
          'To stop a cheque you have written, call us on ' +
            HELPLINE +
            ' with the cheque number and amount. We can stop it if it has not yet been paid, and a fee of £10 applies.',
          'Please keep your cheque book somewhere safe, as you would your card.',
        ],
        note: '',
      }),
  },
  {
    id: 'direct_debit',
    users: [
      () => `How do I cancel a direct debit?`,
      (s) => `A company took ${s.amount} by direct debit after I cancelled my subscription. Can I get it back?`,
      () => `stop standing order to old landlord`,
      () => `Hi, I need to change the amount of my standing order. How do I do that?`,
      () => `Can I cancel a recurring card payment to a gym?`,
      () => `A direct debit was taken twice this month.`,
      () => `How do I set up a standing order for my rent?`,
      () => `I want to stop a regular payment that comes out every month.`,
    ],
    reply: (s, r) =>
      reply(r, {
        empathy: "I'm happy to help you manage your regular payments.",
        help: '',
        steps: [
          'In the app, select your account and choose "Regular payments". You will see your direct debits, standing orders and recurring card payments.',
          'Tap any payment to cancel it, or to change the amount and date of a standing order. Changes made before 6pm apply from the next working day.',
          'If a direct debit was taken in error or after you cancelled it, tap the payment and choose "Claim a refund". The Direct Debit Guarantee means we\'ll refund it straight away.',
          'Please also tell the company that you have cancelled, so that your agreement with them is ended properly.',
        ],
        note: 'To set up a new standing order, go to Payments, then "New standing order", and choose the payee, amount, start date and how often it should be paid.',
      }),
  },
];

/** Slot values for a template; one that takes none speaks of "your card" in the reply. */
function slotsFor(t, r) {
  const s = pickSlots(r);
  if (t.length === 0) s.card = 'card';
  return s;
}

/**
 * The support set: `train` (≥ 150 examples) and `heldout` (one per topic from its reserved phrasing, plus
 * the showcase prompt). Every example is `{messages:[system, user, assistant]}`.
 */
export function supportDataset(seed = 5) {
  const r = new Rng(seed);
  const train = [];
  const heldout = [];
  const seen = new Set();
  const add = (set, user, topic) => {
    const key = norm(user);
    if (seen.has(key)) return false;
    seen.add(key);
    set.push({
      messages: [
        { role: 'system', content: SUPPORT_SYSTEM },
        { role: 'user', content: user },
        { role: 'assistant', content: topic.reply(slots, r) },
      ],
    });
    return true;
  };
  let slots;
  for (const topic of TOPICS) {
    const held = topic.users[topic.users.length - 1];
    for (const t of topic.users.slice(0, -1)) {
      // Each training phrasing once; a phrasing with slots a second time, with other values.
      for (let k = 0; k < (t.length > 0 ? 2 : 1); k++) {
        slots = slotsFor(t, r);
        add(train, t(slots), topic);
      }
    }
    for (const t of [...(topic.extraHeldout ?? []), held]) {
      slots = slotsFor(t, r);
      add(heldout, t(slots), topic);
    }
  }
  return { train: r.shuffle(train), heldout };
}

export const SUPPORT_TOPICS = TOPICS.map((t) => t.id);
