// Demo dataset 3: contract language for continued pretraining (plain text, one clause per paragraph).
// Agreements between fictional parties are assembled from clause recipes (several wordings each, with
// periods, amounts, places and party roles as slots). Every paragraph is a document to the TXT importer:
// the title, the parties, the recitals and each numbered clause with its sub-clauses on single lines.

import { Rng, norm } from './rng.mjs';

const NAME_A = [
  'Halden',
  'Marrow',
  'Ashcombe',
  'Brightwater',
  'Kestrel',
  'Ravensworth',
  'Thornbury',
  'Calder',
  'Fenwick',
  'Larkspur',
  'Oakridge',
  'Penhallow',
  'Westmarch',
  'Silverdale',
  'Greywell',
  'Millbrook',
  'Harrowgate',
  'Blackmoor',
  'Elmstead',
  'Corrib',
];
const NAME_B = [
  'Logistics',
  'Software',
  'Holdings',
  'Engineering',
  'Supplies',
  'Consulting',
  'Properties',
  'Analytics',
  'Foods',
  'Textiles',
  'Facilities',
  'Print',
  'Systems',
  'Estates',
  'Medical',
];
const SUFFIX = ['Limited', 'Ltd', 'LLP', 'plc'];
const STREET = [
  'Mill Lane',
  'Station Road',
  'King Street',
  'Harbour Way',
  'Chapel Row',
  'Queen Square',
  'Market Place',
  'Canal Street',
  'Orchard Close',
  'Bridge End',
];
const TOWN = ['Leeds', 'Bristol', 'Norwich', 'Cardiff', 'York', 'Exeter', 'Derby', 'Reading', 'Carlisle', 'Lincoln', 'Bath', 'Durham'];
const LAW = [
  ['England and Wales', 'the courts of England and Wales'],
  ['Scotland', 'the Scottish courts'],
  ['Northern Ireland', 'the courts of Northern Ireland'],
  ['Ireland', 'the courts of Ireland'],
];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WORDS = [
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
];
const TENS = {
  20: 'twenty',
  21: 'twenty-one',
  28: 'twenty-eight',
  30: 'thirty',
  45: 'forty-five',
  60: 'sixty',
  90: 'ninety',
  120: 'one hundred and twenty',
  180: 'one hundred and eighty',
};

/** "thirty (30)" */
function num(n) {
  const w = n <= 15 ? WORDS[n - 1] : TENS[n];
  if (!w) throw new Error(`no words for ${n}`);
  return `${w} (${n})`;
}
const days = (n, business = false) => `${num(n)} ${business ? 'Business Days' : 'days'}`;
const money = (n) => `£${n.toLocaleString('en-GB')}`;

// The kinds of agreement: their title, the two roles, and what the agreement is about.
const KINDS = [
  {
    id: 'services',
    title: 'MASTER SERVICES AGREEMENT',
    a: 'Supplier',
    b: 'Customer',
    subjects: [
      "the maintenance of the Customer's heating, ventilation and air-conditioning systems",
      'payroll processing and related reporting services',
      'the design, development and support of software applications',
      "cleaning and waste management services at the Customer's premises",
      'courier, collection and same-day delivery services',
      "the hosting and monitoring of the Customer's websites",
    ],
    thing: 'Services',
  },
  {
    id: 'licence',
    title: 'SOFTWARE LICENCE AGREEMENT',
    a: 'Licensor',
    b: 'Licensee',
    subjects: [
      'the stock control software known as "LedgerLine"',
      'the route planning software known as "Wayfarer"',
      'the laboratory information system known as "SampleTrack"',
      'the scheduling software known as "Rota Pro"',
      'the document management platform known as "Filebridge"',
    ],
    thing: 'Software',
  },
  {
    id: 'supply',
    title: 'AGREEMENT FOR THE SUPPLY OF GOODS',
    a: 'Seller',
    b: 'Buyer',
    subjects: [
      'office furniture',
      'laboratory reagents and consumables',
      'corrugated packaging materials',
      'seasoned hardwood timber',
      'printed circuit boards',
      'catering equipment',
    ],
    thing: 'Goods',
  },
  {
    id: 'nda',
    title: 'MUTUAL NON-DISCLOSURE AGREEMENT',
    a: 'First Party',
    b: 'Second Party',
    subjects: [
      'a possible joint venture for the distribution of medical devices',
      'the proposed acquisition of a property portfolio',
      'a collaboration on battery recycling technology',
      'a potential outsourcing of customer service operations',
      'the joint development of a training programme',
    ],
    thing: 'Purpose',
  },
  {
    id: 'lease',
    title: 'LEASE OF COMMERCIAL PREMISES',
    a: 'Landlord',
    b: 'Tenant',
    subjects: [
      'a ground floor retail unit',
      'the second floor offices',
      'a warehouse and yard',
      'a workshop with ancillary offices',
      'a first floor studio',
    ],
    thing: 'Premises',
  },
  {
    id: 'consultancy',
    title: 'CONSULTANCY AGREEMENT',
    a: 'Consultant',
    b: 'Client',
    subjects: [
      "a review of the Client's procurement procedures",
      "advice on the Client's energy efficiency programme",
      "an assessment of the Client's information security controls",
      'the preparation of a market entry strategy',
      "support with the Client's regulatory reporting",
    ],
    thing: 'Services',
  },
  {
    id: 'loan',
    title: 'FACILITY AGREEMENT',
    a: 'Lender',
    b: 'Borrower',
    subjects: [
      'the purchase of new manufacturing equipment',
      'general working capital purposes',
      "the refurbishment of the Borrower's premises",
      'the acquisition of a delivery fleet',
    ],
    thing: 'Facility',
  },
];

function party(r, used) {
  for (;;) {
    const name = `${r.pick(NAME_A)} ${r.pick(NAME_B)} ${r.pick(SUFFIX)}`;
    if (!used.has(name)) {
      used.add(name);
      return name;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Clause recipes: (c, r) → { heading, subs: [sentences] } where c is the agreement's context.

const definitions = (c, r) => {
  const defs = [
    `"Agreement" means this agreement, including its schedules, as amended from time to time in accordance with clause ${c.amendClause}.`,
    `"Business Day" means a day other than a Saturday, Sunday or public holiday in ${c.law[0]} when banks in ${c.town} are open for business.`,
    `"Confidential Information" means all information of a confidential nature disclosed by or on behalf of one party to the other, whether before or after the date of this Agreement, in any form, including information relating to ${r.pick(['the business, customers, suppliers, plans and finances', 'the products, processes, pricing and know-how', 'the operations, employees, trade secrets and strategy'])} of the disclosing party.`,
    `"Intellectual Property Rights" means patents, rights to inventions, copyright and related rights, trade marks, rights in designs, database rights, rights in confidential information and all other intellectual property rights, in each case whether registered or unregistered, and all similar rights anywhere in the world.`,
    `"Losses" means all losses, liabilities, damages, costs and expenses, including reasonable legal fees.`,
  ];
  const specific = {
    services: `"Services" means ${c.subject}, as more fully described in Schedule 1.`,
    licence: `"Software" means ${c.subject}, in object code form, together with its documentation and any updates supplied under this Agreement.`,
    supply: `"Goods" means the ${c.subject} described in an Order, and "Order" means a written order for Goods issued by the Buyer under clause 3.`,
    nda: `"Purpose" means ${c.subject}.`,
    lease: `"Premises" means ${c.subject} at ${c.addressB.replace(/^\d+ /, '')}, shown edged red on the plan attached to this Lease.`,
    consultancy: `"Services" means ${c.subject}, as set out in the Statement of Work.`,
    loan: `"Facility" means the term loan facility made available under this Agreement, and "Loan" means the principal amount outstanding under it.`,
  }[c.kind.id];
  const chosen = r.sample(defs, 2 + r.int(2));
  chosen.push(specific, `"Commencement Date" means ${c.date}.`);
  if (c.kind.id === 'nda' && !chosen.some((d) => d.startsWith('"Confidential'))) chosen.push(defs[2]);
  chosen.sort();
  return {
    heading: 'DEFINITIONS AND INTERPRETATION',
    subs: [
      `In this Agreement the following definitions apply:\n${chosen.join('\n')}`,
      r.pick([
        'Clause and schedule headings do not affect the interpretation of this Agreement.',
        'Words in the singular include the plural and the other way round.',
        'A reference to a statute or statutory provision is a reference to it as amended, extended or re-enacted from time to time.',
      ]),
      r.pick([
        'Any words following the terms "including", "include" or "in particular" are illustrative and do not limit the sense of the words preceding those terms.',
        'A reference to "writing" or "written" includes email.',
      ]),
    ],
  };
};

const scopeClause = {
  services: (c, r) => ({
    heading: 'SUPPLY OF SERVICES',
    subs: [
      `The Supplier shall provide the Services to the Customer from the Commencement Date in accordance with this Agreement.`,
      `In providing the Services, the Supplier shall ${r.pick(['use reasonable care and skill', 'act in accordance with good industry practice', 'perform its obligations promptly and in a professional manner'])} and shall comply with all applicable laws and with the Customer's reasonable site rules notified to it in writing.`,
      `The Supplier shall meet any performance dates agreed in writing, but any such dates shall be estimates only and time shall not be of the essence${r.chance(0.5) ? ' unless expressly stated otherwise' : ''}.`,
      r.pick([
        `The Supplier shall appoint a manager for the Services, who shall have authority to bind the Supplier on all matters relating to the Services.`,
        `The Supplier shall ensure that all personnel engaged in the Services are suitably skilled, experienced and, where relevant, vetted.`,
      ]),
    ],
  }),
  licence: (c, r) => ({
    heading: 'GRANT OF LICENCE',
    subs: [
      `In consideration of the Licence Fee, the Licensor grants to the Licensee a ${r.pick(['non-exclusive, non-transferable', 'non-exclusive, non-sublicensable', 'non-exclusive, revocable'])} licence to use the Software for the Licensee's internal business purposes for the duration of this Agreement.`,
      `The licence is limited to ${r.pick(['twenty-five (25) named users', 'fifty (50) concurrent users', 'one (1) production installation and one (1) test installation', 'the sites listed in Schedule 2'])}.`,
      `The Licensee shall not, except as permitted by law: (a) copy the Software, except for one back-up copy; (b) modify, translate or create derivative works of the Software; (c) reverse engineer or decompile the Software; or (d) rent, lease or otherwise make the Software available to any third party.`,
      `All Intellectual Property Rights in the Software shall remain vested in the Licensor${r.chance(0.5) ? ' and its licensors' : ''}.`,
    ],
  }),
  supply: (c, r) => ({
    heading: 'ORDERS AND DELIVERY',
    subs: [
      `Each Order shall be deemed to be an offer by the Buyer to purchase Goods subject to this Agreement, and shall be accepted only when the Seller issues a written acceptance${r.chance(0.5) ? ' or delivers the Goods, whichever happens first' : ''}.`,
      `The Seller shall deliver the Goods to ${c.addressB} ${r.pick(['within ' + days(10, true) + ' of acceptance of the Order', 'on the date specified in the Order', 'within ' + days(14) + ' of the date of the Order'])}.`,
      `Delivery is completed on the completion of unloading of the Goods at the delivery location. Risk in the Goods shall pass to the Buyer on completion of delivery, and title shall pass when the Seller has received payment in full.`,
      `The Buyer shall inspect the Goods within ${days(r.pick([5, 7, 10]), true)} of delivery and shall notify the Seller in writing of any defect or shortfall, failing which the Goods shall be deemed accepted.`,
    ],
  }),
  nda: (c, r) => ({
    heading: 'CONFIDENTIALITY OBLIGATIONS',
    subs: [
      `Each party shall keep the other party's Confidential Information secret and shall not use it except for the Purpose.`,
      `Each party may disclose the other party's Confidential Information to those of its ${r.pick(['employees, officers and professional advisers', 'directors, employees and advisers', 'employees and subcontractors'])} who need to know it for the Purpose, provided that it informs them of its confidential nature and ensures that they comply with this Agreement.`,
      `The obligations in this clause shall not apply to information that: (a) is or becomes generally available to the public other than through a breach of this Agreement; (b) was lawfully in the receiving party's possession before disclosure; (c) is lawfully received from a third party free of any duty of confidence; or (d) is independently developed without use of the Confidential Information.`,
      `A party may disclose Confidential Information to the extent required by law, by any governmental or regulatory authority or by a court, provided that, where lawful, it gives the other party as much notice of the disclosure as possible.`,
    ],
  }),
  lease: (c, r) => ({
    heading: 'RENT AND USE OF THE PREMISES',
    subs: [
      `The Tenant shall pay the rent of ${money(r.pick([18500, 24000, 36750, 52000, 9600]))} a year by equal quarterly payments in advance on the usual quarter days, the first payment to be made on the date of this Lease.`,
      `The Tenant shall not use the Premises other than for ${r.pick(['use as a shop', 'use as offices', 'storage and distribution', 'light industrial use', 'use as a design studio'])}, and shall not cause any nuisance or annoyance to the Landlord or to the occupiers of any neighbouring property.`,
      `The Tenant shall keep the interior of the Premises in good and substantial repair and condition, damage by insured risks excepted, and shall not make any structural alteration to the Premises without the prior written consent of the Landlord.`,
      `The Landlord may enter the Premises on not less than ${num(r.pick([2, 3, 7]))} days' notice, except in an emergency, to inspect their condition or to carry out repairs, causing as little disturbance as reasonably practicable.`,
    ],
  }),
  consultancy: (c, r) => ({
    heading: 'ENGAGEMENT',
    subs: [
      `The Client engages the Consultant to provide the Services on the terms of this Agreement, and the Consultant shall provide them with all due care, skill and ability.`,
      `The Consultant shall make available ${r.pick(['a named senior consultant', 'suitably qualified personnel', 'the individuals listed in the Statement of Work'])} to perform the Services and shall not replace them without the Client's prior written consent, which shall not be unreasonably withheld.`,
      `The Consultant is an independent contractor and nothing in this Agreement shall render the Consultant an employee, worker, agent or partner of the Client.`,
      `The Consultant shall be free to provide services to third parties during the term of this Agreement, provided that this does not conflict with the performance of the Services.`,
    ],
  }),
  loan: (c, r) => ({
    heading: 'THE FACILITY AND REPAYMENT',
    subs: [
      `Subject to the terms of this Agreement, the Lender makes available to the Borrower a term loan facility in an aggregate amount of ${money(r.pick([250000, 400000, 750000, 1200000]))}, to be applied towards ${c.subject}.`,
      `The Borrower shall pay interest on the Loan at the rate of ${r.pick(['3.5', '4.25', '5', '6.75'])} per cent per annum above the Bank of England base rate, calculated daily and payable ${r.pick(['monthly', 'quarterly'])} in arrears.`,
      `The Borrower shall repay the Loan by ${r.pick(['twenty (20) equal quarterly instalments', 'sixty (60) equal monthly instalments', 'eight (8) equal half-yearly instalments'])}, the first falling due ${r.pick(['three', 'six', 'twelve'])} months after the date of drawdown.`,
      `The Borrower may prepay the whole or any part of the Loan on giving not less than ${days(r.pick([10, 15, 30]), true)}' notice, and any amount prepaid may not be redrawn.`,
    ],
  }),
};

const payment = (c, r) => {
  const what = {
    services: 'the Services',
    licence: 'the licence',
    supply: 'the Goods',
    lease: null,
    nda: null,
    consultancy: 'the Services',
    loan: null,
  }[c.kind.id];
  const fee = { supply: 'price', licence: 'Licence Fee' }[c.kind.id] ?? 'Charges';
  return {
    heading: 'CHARGES AND PAYMENT',
    subs: [
      `In consideration of ${what}, the ${c.kind.b} shall pay the ${fee} set out in Schedule ${r.pick([2, 3])}${r.chance(0.5) ? ', which are exclusive of VAT' : ''}.`,
      `The ${c.kind.a} shall invoice the ${c.kind.b} ${r.pick(['monthly in arrears', 'on completion of each milestone', 'on or at any time after delivery', 'quarterly in advance'])}, and the ${c.kind.b} shall pay each valid invoice within ${days(r.pick([14, 28, 30, 45, 60]))} of receipt${r.chance(0.5) ? ' to a bank account nominated in writing by the ' + c.kind.a : ''}.`,
      `If the ${c.kind.b} fails to pay any amount by the due date, it shall pay interest on the overdue amount at the rate of ${r.pick(['four', 'five', 'eight'])} per cent per annum above the Bank of England base rate from the due date until payment, whether before or after judgment.`,
      r.pick([
        `The ${c.kind.b} may withhold payment of any amount that it disputes in good faith, provided that it notifies the ${c.kind.a} of the dispute and the reasons for it before the due date.`,
        `All amounts due under this Agreement shall be paid in full without any set-off, counterclaim, deduction or withholding, other than any deduction or withholding of tax as required by law.`,
      ]),
    ],
  };
};

const warranties = (c, r) => ({
  heading: 'WARRANTIES',
  subs: [
    `Each party warrants that it has full power and authority to enter into and perform this Agreement, and that this Agreement has been duly executed by it.`,
    {
      services: `The Supplier warrants that the Services will be performed in accordance with the service description in Schedule 1 and that any materials supplied will be of satisfactory quality.`,
      licence: `The Licensor warrants that, for a period of ${days(r.pick([60, 90]))} from delivery, the Software will perform substantially in accordance with its documentation when used in accordance with this Agreement.`,
      supply: `The Seller warrants that on delivery, and for a period of ${r.pick(['twelve (12)', 'six (6)', 'twenty-four (24)'])} months from delivery, the Goods shall conform in all material respects with their description, be free from material defects in design, material and workmanship, and be of satisfactory quality.`,
      nda: `Each party warrants that it has the right to disclose the Confidential Information it discloses under this Agreement. No other warranty is given as to the accuracy or completeness of any Confidential Information.`,
      lease: `The Landlord warrants that it has good title to the Premises and that the Tenant, paying the rent and observing its obligations, may peaceably hold and enjoy the Premises without any interruption by the Landlord.`,
      consultancy: `The Consultant warrants that it holds all consents and licences needed to perform the Services and that the Services will not infringe the Intellectual Property Rights of any third party.`,
      loan: `The Borrower represents to the Lender that no Event of Default is continuing, and that the financial statements most recently supplied to the Lender give a true and fair view of its financial position.`,
    }[c.kind.id],
    `Except as expressly set out in this Agreement, all warranties, conditions and other terms implied by statute or common law are, to the fullest extent permitted by law, excluded from this Agreement.`,
  ],
});

const liability = (c, r) => ({
  heading: 'LIMITATION OF LIABILITY',
  subs: [
    `Nothing in this Agreement limits or excludes liability for death or personal injury caused by negligence, for fraud or fraudulent misrepresentation, or for any other liability that cannot be limited or excluded by law.`,
    `Subject to clause ${c.n}.1, neither party shall be liable to the other, whether in contract, tort (including negligence), breach of statutory duty or otherwise, for any ${r.pick(['loss of profits, loss of sales or business, loss of goodwill', 'loss of profit, loss of anticipated savings, loss of data', 'loss of business opportunity, loss of revenue'])} or any indirect or consequential loss arising under or in connection with this Agreement.`,
    `Subject to clause ${c.n}.1, each party's total liability to the other arising under or in connection with this Agreement shall be limited to ${r.pick(
      [
        'the total charges paid in the twelve (12) months before the date on which the claim arose',
        money(r.pick([50000, 100000, 250000, 1000000])),
        'one hundred and fifty per cent (150%) of the charges paid or payable under this Agreement',
      ],
    )}.`,
  ],
});

const indemnity = (c, r) => ({
  heading: 'INDEMNITY',
  subs: [
    `The ${c.kind.a} shall indemnify the ${c.kind.b} against all Losses arising out of or in connection with any claim that the ${c.kind.b}'s ${r.pick(['receipt or use', 'possession or use'])} of the ${c.kind.thing} infringes the Intellectual Property Rights of a third party.`,
    `The indemnity in clause ${c.n}.1 shall not apply to the extent that a claim arises from ${r.pick(['any modification made without the consent of the ' + c.kind.a, 'the ' + c.kind.b + "'s use of the " + c.kind.thing + ' in combination with anything not supplied by the ' + c.kind.a, 'compliance with the ' + c.kind.b + "'s specifications or instructions"])}.`,
    `A party claiming under an indemnity shall give the other party prompt written notice of the claim, allow it to conduct the defence and any settlement of the claim, give it reasonable assistance at its cost, and make no admission without its consent.`,
  ],
});

const confidentiality = (c, r) => ({
  heading: 'CONFIDENTIALITY',
  subs: [
    `Each party undertakes that it shall not at any time during this Agreement, and for a period of ${r.pick(['two (2)', 'three (3)', 'five (5)'])} years after its termination, disclose to any person any Confidential Information of the other party, except as permitted by clause ${c.n}.2.`,
    `Each party may disclose the other party's Confidential Information to its employees, officers, representatives and advisers who need to know it for the purpose of exercising the party's rights or performing its obligations under this Agreement, and as may be required by law, a court of competent jurisdiction or any regulatory authority.`,
    `Neither party shall use the other party's Confidential Information for any purpose other than to exercise its rights and perform its obligations under this Agreement.`,
  ],
});

const dataProtection = (c, r) => ({
  heading: 'DATA PROTECTION',
  subs: [
    `Both parties shall comply with all applicable requirements of the Data Protection Legislation. This clause is in addition to, and does not relieve, remove or replace, a party's obligations under the Data Protection Legislation.`,
    `To the extent that the ${c.kind.a} processes personal data on behalf of the ${c.kind.b}, it shall: (a) process that personal data only on the documented written instructions of the ${c.kind.b}; (b) ensure that it has in place appropriate technical and organisational measures to protect against unauthorised or unlawful processing and accidental loss, destruction or damage; and (c) notify the ${c.kind.b} without undue delay, and in any event within ${r.pick(['twenty-four (24)', 'forty-eight (48)', 'seventy-two (72)'])} hours, on becoming aware of a personal data breach.`,
    `At the written direction of the ${c.kind.b}, the ${c.kind.a} shall delete or return the personal data and copies of it on termination of this Agreement unless required by law to store it.`,
  ],
});

const term = (c, r) => ({
  heading: 'TERM AND TERMINATION',
  subs: [
    c.kind.id === 'loan'
      ? `This Agreement shall commence on the Commencement Date and shall continue until the Loan and all other amounts due under it have been repaid in full.`
      : r.pick([
          `This Agreement shall commence on the Commencement Date and shall continue for an initial term of ${r.pick(['twelve (12) months', 'two (2) years', 'three (3) years'])}, and thereafter shall automatically renew for successive periods of twelve (12) months unless either party gives written notice to terminate at least ${days(r.pick([60, 90]))} before the end of the initial term or of any renewal period.`,
          `This Agreement shall commence on the Commencement Date and shall continue until terminated by either party giving not less than ${r.pick(['three (3)', 'six (6)', 'one (1)'])} months' written notice to the other.`,
        ]),
    `Either party may terminate this Agreement with immediate effect by giving written notice to the other party if: (a) the other party commits a material breach of any term of this Agreement which is irremediable or, if remediable, is not remedied within ${days(r.pick([14, 21, 30]))} of being notified in writing to do so; (b) the other party ${r.pick(['suspends, or threatens to suspend, payment of its debts', 'is unable to pay its debts as they fall due', 'enters into administration, liquidation or any arrangement with its creditors'])}; or (c) the other party suspends or ceases to carry on all or a substantial part of its business.`,
    {
      nda: `On termination of this Agreement, or at any time on the request of the disclosing party, each party shall promptly return or destroy all documents and materials containing the other party's Confidential Information, and shall erase it from any computer or storage device so far as reasonably practicable.`,
      lease: `On the expiry or earlier determination of the term, the Tenant shall give up the Premises with vacant possession, in the state of repair and condition required by this Agreement, and shall remove any signs, fixtures and fittings it has installed, making good any damage caused by their removal.`,
      loan: `On termination of this Agreement, the Loan, accrued interest and all other amounts outstanding under it shall become immediately due and payable.`,
    }[c.kind.id] ??
      `On termination of this Agreement for any reason, the ${c.kind.b} shall immediately pay to the ${c.kind.a} all outstanding unpaid invoices and interest, and each party shall return or destroy the other party's Confidential Information in its possession.`,
    `Termination of this Agreement shall not affect any rights, remedies, obligations or liabilities of the parties that have accrued up to the date of termination, and any provision that expressly or by implication is intended to continue in force after termination shall remain in full force and effect.`,
  ],
});

const forceMajeure = (c, r) => ({
  heading: 'FORCE MAJEURE',
  subs: [
    `Neither party shall be in breach of this Agreement nor liable for delay in performing, or failure to perform, any of its obligations under it if such delay or failure results from events, circumstances or causes beyond its reasonable control${r.chance(0.5) ? ', including acts of God, flood, fire, epidemic, war, terrorism, industrial action affecting a third party, or failure of a utility service or transport network' : ''}.`,
    `In such circumstances the affected party shall promptly notify the other party, shall use all reasonable endeavours to mitigate the effect of the event, and shall be entitled to a reasonable extension of the time for performing its obligations.`,
    `If the period of delay or non-performance continues for ${r.pick(['four (4) weeks', 'sixty (60) days', 'three (3) months'])}, the party not affected may terminate this Agreement by giving ${days(r.pick([7, 14, 30]))}' written notice to the affected party.`,
  ],
});

const defaultClause = (c, r) => ({
  heading: 'EVENTS OF DEFAULT',
  subs: [
    `Each of the following is an Event of Default: (a) the Borrower fails to pay any sum payable under this Agreement on its due date, unless the failure is caused by an administrative error and payment is made within ${days(r.pick([3, 5]), true)}; (b) any representation made by the Borrower is or proves to have been incorrect or misleading in any material respect when made; (c) the Borrower is unable to pay its debts as they fall due or enters into any composition with its creditors.`,
    `At any time after an Event of Default has occurred and while it is continuing, the Lender may by notice to the Borrower declare that all or part of the Loan, together with accrued interest and all other amounts outstanding, be immediately due and payable.`,
    `The Borrower shall supply to the Lender, within ${r.pick(['one hundred and twenty (120)', 'one hundred and eighty (180)', 'ninety (90)'])} days after the end of each financial year, its audited financial statements for that year.`,
  ],
});

const notices = (c, r) => ({
  heading: 'NOTICES',
  subs: [
    `Any notice given to a party under or in connection with this Agreement shall be in writing and shall be delivered by hand or by pre-paid first-class post or other next working day delivery service at its registered office, or sent by email to the address specified in Schedule ${r.pick([1, 4])}.`,
    `Any notice shall be deemed to have been received: (a) if delivered by hand, at the time the notice is left at the proper address; (b) if sent by pre-paid first-class post or other next working day delivery service, at 9.00 am on the ${r.pick(['second', 'third'])} Business Day after posting; or (c) if sent by email, at the time of transmission or, if this time falls outside business hours in the place of receipt, when business hours resume.`,
    `This clause does not apply to the service of any proceedings or other documents in any legal action or, where applicable, any arbitration or other method of dispute resolution.`,
  ],
});

const assignment = (c, r) => ({
  heading: 'ASSIGNMENT AND OTHER DEALINGS',
  subs: [
    `Neither party shall assign, transfer, mortgage, charge, subcontract, declare a trust over or deal in any other manner with any of its rights and obligations under this Agreement without the prior written consent of the other party${r.chance(0.5) ? ', such consent not to be unreasonably withheld or delayed' : ''}.`,
    r.pick([
      `The ${c.kind.a} may subcontract any of its obligations under this Agreement, but shall remain responsible for all acts and omissions of its subcontractors as if they were its own.`,
      `Either party may, on written notice, assign this Agreement to a member of its group, provided that the assignee is capable of performing the assignor's obligations.`,
    ]),
  ],
});

const boilerplate = (c, r) => {
  const items = [
    `Entire agreement. This Agreement constitutes the entire agreement between the parties and supersedes and extinguishes all previous agreements, promises, assurances, warranties, representations and understandings between them, whether written or oral, relating to its subject matter.`,
    `Variation. No variation of this Agreement shall be effective unless it is in writing and signed by the parties or their authorised representatives.`,
    `Waiver. A waiver of any right or remedy under this Agreement or by law is only effective if given in writing and shall not be deemed a waiver of any subsequent right or remedy. A failure or delay by a party to exercise any right or remedy shall not waive that or any other right or remedy.`,
    `Severance. If any provision or part-provision of this Agreement is or becomes invalid, illegal or unenforceable, it shall be deemed modified to the minimum extent necessary to make it valid, legal and enforceable; if such modification is not possible, the relevant provision or part-provision shall be deemed deleted, without affecting the validity and enforceability of the rest of this Agreement.`,
    `No partnership. Nothing in this Agreement is intended to, or shall be deemed to, establish any partnership or joint venture between the parties, or constitute either party the agent of the other for any purpose.`,
    `Third party rights. This Agreement does not give rise to any rights under the Contracts (Rights of Third Parties) Act 1999 to enforce any term of this Agreement.`,
    `Counterparts. This Agreement may be executed in any number of counterparts, each of which when executed shall constitute a duplicate original, but all the counterparts shall together constitute the one agreement.`,
    `Costs. Each party shall pay its own costs and expenses incurred in connection with the negotiation, preparation and execution of this Agreement.`,
  ];
  const chosen = r.sample(items, 3 + r.int(3));
  return { heading: 'GENERAL', subs: chosen };
};

const law = (c, r) => ({
  heading: 'GOVERNING LAW AND JURISDICTION',
  subs: [
    `This Agreement and any dispute or claim (including non-contractual disputes or claims) arising out of or in connection with it or its subject matter or formation shall be governed by and construed in accordance with the law of ${c.law[0]}.`,
    r.pick([
      `Each party irrevocably agrees that ${c.law[1]} shall have exclusive jurisdiction to settle any dispute or claim arising out of or in connection with this Agreement or its subject matter or formation.`,
      `The parties shall attempt in good faith to resolve any dispute through negotiation between their senior representatives. If the dispute is not resolved within ${days(r.pick([20, 30]))}, either party may refer it to mediation, and failing settlement within a further ${days(r.pick([30, 45]))} to ${c.law[1]}, which shall have exclusive jurisdiction.`,
    ]),
  ],
});

const BODY = {
  services: [payment, warranties, liability, indemnity, confidentiality, dataProtection, term, forceMajeure, assignment, notices],
  licence: [payment, warranties, liability, indemnity, confidentiality, term, forceMajeure, assignment, notices],
  supply: [payment, warranties, liability, indemnity, term, forceMajeure, assignment, notices],
  nda: [term, assignment, notices],
  lease: [warranties, term, assignment, notices],
  consultancy: [payment, warranties, liability, confidentiality, dataProtection, term, forceMajeure, notices],
  loan: [defaultClause, warranties, term, assignment, notices],
};

function agreement(r, kind, usedNames) {
  const [lawName, courts] = r.pick(LAW);
  const c = {
    kind,
    subject: r.pick(kind.subjects),
    nameA: party(r, usedNames),
    nameB: party(r, usedNames),
    town: r.pick(TOWN),
    law: [lawName, courts],
    date: `${1 + r.int(28)} ${r.pick(MONTHS)} ${2019 + r.int(7)}`,
  };
  c.addressA = `${1 + r.int(120)} ${r.pick(STREET)}, ${r.pick(TOWN)}`;
  c.addressB = `${1 + r.int(120)} ${r.pick(STREET)}, ${c.town}`;
  const body = BODY[kind.id];
  const clauses = [definitions, scopeClause[kind.id], ...body, boilerplate, law];
  c.amendClause = clauses.indexOf(boilerplate) + 1;
  const paras = [];
  paras.push(`${kind.title}`);
  paras.push(
    `THIS AGREEMENT is dated ${c.date}.\nPARTIES\n(1) ${c.nameA}, incorporated and registered in ${lawName === 'Ireland' ? 'Ireland' : 'England and Wales'} with company number ${String(1000000 + r.int(8999999)).padStart(8, '0')}, whose registered office is at ${c.addressA} (the "${kind.a}").\n(2) ${c.nameB}, incorporated and registered in ${lawName === 'Ireland' ? 'Ireland' : 'England and Wales'} with company number ${String(1000000 + r.int(8999999)).padStart(8, '0')}, whose registered office is at ${c.addressB} (the "${kind.b}").`,
  );
  const recital = {
    services: `(A) The Supplier carries on the business of providing ${c.subject}.\n(B) The Customer wishes to obtain, and the Supplier has agreed to provide, the Services on the terms of this Agreement.`,
    licence: `(A) The Licensor is the owner of ${c.subject}.\n(B) The Licensee wishes to use the Software in its business, and the Licensor is willing to grant the Licensee a licence to do so on the terms of this Agreement.`,
    supply: `(A) The Seller manufactures and sells ${c.subject}.\n(B) The Buyer wishes to purchase such Goods from time to time, and the Seller has agreed to sell them, on the terms of this Agreement.`,
    nda: `(A) The parties wish to discuss ${c.subject} and, for that purpose, each expects to disclose Confidential Information to the other.\n(B) Each party is willing to disclose its Confidential Information only on the terms of this Agreement.`,
    lease: `(A) The Landlord is the freehold owner of ${c.subject} at ${c.addressB}.\n(B) The Landlord has agreed to let, and the Tenant has agreed to take, the Premises for a term of ${r.pick(['five (5)', 'ten (10)', 'three (3)'])} years on the terms of this Lease.`,
    consultancy: `(A) The Consultant provides professional advisory services, including ${c.subject}.\n(B) The Client wishes to engage the Consultant to provide the Services, and the Consultant has agreed to do so, on the terms of this Agreement.`,
    loan: `(A) The Borrower has requested a loan facility for ${c.subject}.\n(B) The Lender has agreed to make the Facility available to the Borrower on the terms of this Agreement.`,
  }[kind.id];
  paras.push(`BACKGROUND\n${recital}\nAGREED TERMS`);
  clauses.forEach((fn, i) => {
    c.n = i + 1;
    const { heading, subs } = fn(c, r);
    const lines = [`${c.n}. ${heading}`, ...subs.map((s, j) => `${c.n}.${j + 1} ${s}`)];
    paras.push(lines.join('\n'));
  });
  paras.push(
    `This Agreement has been entered into on the date stated at the beginning of it.\nSigned by ${r.pick(['Alex', 'Jordan', 'Morgan', 'Sam', 'Robin', 'Casey'])} ${r.pick(['Hale', 'Brook', 'Ashworth', 'Kaur', 'Okafor', 'Lindqvist', 'Moreau'])}, director, for and on behalf of ${c.nameA}.\nSigned by ${r.pick(['Chris', 'Taylor', 'Jamie', 'Avery', 'Nico', 'Dana'])} ${r.pick(['Walsh', 'Patel', 'Nowak', 'Evans', 'Osei', 'Fraser', 'Silva'])}, director, for and on behalf of ${c.nameB}.`,
  );
  if (kind.id === 'lease') {
    return paras.map((p) =>
      p
        .replace('"Agreement" means this agreement', '"Lease" means this lease')
        .replace(/this Agreement/g, 'this Lease')
        .replace(/This Agreement/g, 'This Lease')
        .replace('THIS AGREEMENT', 'THIS LEASE'),
    );
  }
  return paras;
}

/**
 * Contract text: `train` and `heldout`, each a list of paragraphs (documents). Train has about
 * `trainBytes` of text; held-out about `heldoutBytes`, from other agreements, with no paragraph that also
 * appears in train.
 */
export function domainDataset(seed = 17, trainBytes = 60_000, heldoutBytes = 8_500) {
  const r = new Rng(seed);
  const used = new Set();
  const train = [];
  const seen = new Set();
  let size = 0;
  let k = 0;
  const kinds = r.shuffle(KINDS);
  while (size < trainBytes) {
    for (const p of agreement(r, kinds[k++ % kinds.length], used)) {
      if (seen.has(norm(p))) continue;
      seen.add(norm(p));
      train.push(p);
      size += Buffer.byteLength(p) + 2;
    }
  }
  const heldout = [];
  size = 0;
  const heldKinds = r.shuffle(KINDS);
  k = 0;
  while (size < heldoutBytes) {
    for (const p of agreement(r, heldKinds[k++ % heldKinds.length], used)) {
      if (seen.has(norm(p))) continue;
      seen.add(norm(p));
      heldout.push(p);
      size += Buffer.byteLength(p) + 2;
      if (size >= heldoutBytes) break;
    }
  }
  return { train, heldout };
}
