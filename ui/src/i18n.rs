//! Every user-facing string, in Swedish (the default) and English (R-ACC-6).
//!
//! One key enum, [`K`], and one table per language. Both tables are exhaustive `match`es,
//! so a key without a Swedish or an English text does not compile; the tests check that no
//! text is empty and that both languages use the same `{placeholders}`.

use domain::wire::entity::NotificationCategory;
use domain::wire::{BoxKind, Locale, UnitKind};
use domain::RejectCode;

macro_rules! keys {
    ($($k:ident),* $(,)?) => {
        /// A translatable text.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum K { $($k),* }
        impl K {
            /// Every key, for the completeness tests.
            pub const ALL: &'static [K] = &[$(K::$k),*];
        }
    };
}

keys! {
    AppName, AppTagline,
    // Sign-in (R-ACC-1, R-ACC-2)
    SignInTitle, SignInLead, Username, Password, ServerUrl, ServerUrlHelp, SignIn, SigningIn,
    InvalidCredentials, TrailingSpaceHint, CaseSensitiveHint, ShowPassword, HidePassword,
    // Header
    ChooseChild, Bell, BellLabel, Envelope, EnvelopeLabel, Settings, Back, Home, Menu,
    // Sync status
    Online, Offline, OfflineLead, Syncing, PendingCount, PendingOne, AttentionCount,
    AttentionOne, SyncNow, LastSync, NeverSynced, NeedsSignIn, SyncTitle, PendingTitle,
    NothingPending, AttentionTitle, AttentionLead, NothingNeedsAttention, EditResend, Dismiss,
    Reason, WhatToDo, WhatToDoLocked, WhatToDoEdit, QueuedAt, Attempts, SavedOffline,
    // Start page and boxes
    StartTitle, BoxEmpty, BoxCountAbsence, BoxCountCare, BoxCountTalks, BoxCountInfo,
    BoxCountCalendar, BoxCountBlog, BoxCountSchedule, BoxCountOther, BoxOpen, BoxNotYetInApp, BoxAbsence, BoxCarePreschool,
    BoxCareSchool, BoxTalks, BoxInformation, BoxCalendar, BoxBlog, BoxSchedule,
    BoxAssessments, BoxDocumentation, BoxPlans, BoxContacts, BoxAbsenceHint, BoxCareHint,
    BoxTalksHint, BoxInfoHint, UnitPreschool, UnitSchool, UnitGymnasium, BookedTalk,
    // Absence (R-ABS-1…6)
    AbsenceTitle, AbsenceLead, AbsenceDay, Today, Tomorrow, WholeDay, ChosenLessons,
    ChooseLessons, NoLessonsThatDay, AbsenceComment, AbsenceCommentHelp, GdprReminder,
    ReportAbsence, Reporting, AbsenceSaved, AbsenceChangeViaSchool, AbsenceHistory,
    NoAbsences, StatusNone, StatusReported, StatusConfirmed, StatusPending, ReportedBy,
    AlreadyReported, ChooseAtLeastOneLesson, CharsLeft, LessonsCount,
    // Care schedule (R-CARE-1…7)
    CareTitlePreschool, CareTitleSchool, CareLead, CareLeadSchool, PrevWeek, NextWeek, ThisWeek, WeekNumber,
    OpeningHours, ClosedDay, LockedDay, LockedHelp, NotRegistered, EditDay, EditWeek,
    EditDayTitle, EditWeekTitle, From, To, Interval1, Interval2, AddInterval,
    RemoveInterval, CareComment, CareCommentHelp, Save, Saving, Cancel, ClearDay, ChangedBy,
    ChangedByOther, StaffComments, CommentBy, CareNotEditable, WeekNotEditable, DaySaved,
    WeekSaved, PendingChange, RepeatTitle, RepeatNone, RepeatEvery, RepeatEveryWeeks,
    RepeatEndCount, RepeatEndUntil, RepeatWeeksCount, RepeatUntilDate, WeekDayOff,
    CommentBubble, ErrTimeFormat, ErrIntervals, ErrOutsideHours, ErrCommentTooLong,
    ErrNoDayInWeek, ErrRepeatEvery, ErrRepeatCount, ErrRepeatUntil, UseSameTimes,
    // Reasons (RejectCode) and other errors
    ReasonAbsenceOutOfWindow, ReasonDayLocked, ReasonOutsideOpeningHours, ReasonUnitClosed,
    ReasonSlotTaken, ReasonAlreadyBooked, ReasonNoArrival, ReasonTimeInFuture,
    ReasonNotPermitted, ReasonNotFound, ReasonInvalidInput, ReasonCursorExpired,
    ReasonPinTrivial, ReasonPinLocked, ReasonPairingInvalid,
    ErrNotSignedIn, ErrNetwork, ErrServer, ErrStorage, ErrKeyring, ErrUnknown,
    // What a queued or rejected change was
    WhatAbsence, WhatCareDay, WhatCareClear, WhatCareWeek, WhatCareComment, WhatTalkBook,
    WhatTalkCancel, WhatNotificationRead, WhatOther,
    // Notifications (R-NOT-1…3)
    NotificationsTitle, NoNotifications, MarkAllRead, Unread, CatNews, CatFiles,
    CatCalendar, CatBlog, CatAssessment, CatTalkSlots, CatAbsenceConfirmed,
    CatAbsenceInvalid,
    // Settings (R-NOT-2, R-ACC-6)
    SettingsTitle, PushTitle, PushLead, LanguageTitle, Swedish, English, SignOut,
    SignedInAs, AccountTitle, SettingsSaved, On, Off,
    // Information, calendar, blog, talks
    InfoTitle, News, Files, Links, CalendarTitle, BlogTitle, Nothing, TalksTitle, TalksLead,
    BookTalk, CancelBooking, YourBooking, SlotFree, SlotTaken, TalkMessage, MinutesShort,
    NotYetTitle, NotYetLead, Loading, Retry, Close, Done,
    // Tablets and staff (R-STAFF-1…3)
    NoAbsence,
    PairTabletLink, PairTitle, PairLead, PairingCode, DeviceName, PairButton, PairingBusy, BackToSignIn, WhoAreYou, LockLead, PinFor, PinLabel, Unlock, EraseDigit, WrongPin, PinLockedLead, NoPinLead, SignInWithPassword, NeedsNetwork, SwitchPerson, TabletOf, ActiveStaff, Unpair, UnpairLead, UnpairAnyway, RevokedLead, RoomTitle, AllGroups, PrevDay, NextDay, TotalsLine, ExpectedStatus, ArrivedAt, DepartedAt, MarkArrived, MarkDeparted, AbsentReported, AbsentConfirmed, NewComment, AttendanceTitle, TimeLabel, ArrivalSaved, DepartureSaved, ConfirmAbsence, AbsenceConfirmedSaved, RegisterAbsence, AbsenceRegistered, CommentsTitle, WriteComment, SendComment, CommentSaved, NoComments, DayNote, PlannedTimes, NoChildren, TabletsTitle, TabletsLead, UnitLabel, CreatePairing, PairingCodeFor, ValidUntil, PairedTablets, NoTablets, PairedBy, LastSeen, Revoke, RevokedAt, RevokedToast, OpenPairings, PinTitle, PinLead, NewPin, RepeatPin, SavePin, PinSaved, PinMismatch, RemovePin, PinRemoved, ErrTabletLocked, ErrOutboxNotEmpty, WhatAttendance, WhatAbsenceConfirm, WhatCommentSeen, WhatPinAttempt,
}

/// The text of `key` in `locale`.
pub fn t(locale: Locale, key: K) -> &'static str {
    match locale {
        Locale::Sv => sv(key),
        Locale::En => en(key),
    }
}

/// The text of `key` with `{name}` placeholders filled in.
pub fn tf(locale: Locale, key: K, args: &[(&str, &str)]) -> String {
    let mut s = t(locale, key).to_string();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

fn sv(key: K) -> &'static str {
    use K::*;
    match key {
        AppName => "Hub",
        AppTagline => "Förskola och skola i fickan",
        SignInTitle => "Logga in",
        SignInLead => "Logga in med användarnamnet och lösenordet från ditt aktiveringsmejl.",
        Username => "Användarnamn",
        Password => "Lösenord",
        ServerUrl => "Serveradress",
        ServerUrlHelp => "Adressen till din kommuns Hub-server.",
        SignIn => "Logga in",
        SigningIn => "Loggar in…",
        InvalidCredentials => "Fel användarnamn eller lösenord. Tänk på att stora och små bokstäver skiljer sig åt.",
        TrailingSpaceHint => "Lösenordet slutar med ett mellanslag. Om du har kopierat lösenordet kan mellanslaget ha följt med – ta bort det och försök igen.",
        CaseSensitiveHint => "Användarnamn och lösenord är skiftlägeskänsliga.",
        ShowPassword => "Visa lösenord",
        HidePassword => "Dölj lösenord",
        ChooseChild => "Välj barn",
        Bell => "Nytt",
        BellLabel => "{n} nya händelser",
        Envelope => "Meddelanden",
        EnvelopeLabel => "{n} olästa meddelanden",
        Settings => "Inställningar",
        Back => "Tillbaka",
        Home => "Start",
        Menu => "Meny",
        Online => "Ansluten",
        Offline => "Offline",
        OfflineLead => "Du är offline. Dina ändringar sparas i appen och skickas när anslutningen är tillbaka.",
        Syncing => "Synkar…",
        PendingCount => "{n} ändringar väntar",
        PendingOne => "1 ändring väntar",
        AttentionCount => "{n} ändringar behöver åtgärdas",
        AttentionOne => "1 ändring behöver åtgärdas",
        SyncNow => "Synka nu",
        LastSync => "Senast synkad {time}",
        NeverSynced => "Inte synkad ännu",
        NeedsSignIn => "Du behöver logga in igen. Dina ändringar finns kvar och skickas efter inloggningen.",
        SyncTitle => "Ändringar",
        PendingTitle => "Väntar på att skickas",
        NothingPending => "Allt är skickat.",
        AttentionTitle => "Behöver åtgärdas",
        AttentionLead => "De här ändringarna kunde inte sparas. Ändra och skicka igen, eller ta bort dem.",
        NothingNeedsAttention => "Inget behöver åtgärdas.",
        EditResend => "Ändra och skicka igen",
        Dismiss => "Ta bort",
        Reason => "Orsak",
        WhatToDo => "Vad gör jag nu?",
        WhatToDoLocked => "Skicka ett meddelande eller ring förskolan eller skolan i stället.",
        WhatToDoEdit => "Ändra uppgifterna och skicka igen, eller ta bort ändringen.",
        QueuedAt => "Gjord {time}",
        Attempts => "{n} försök",
        SavedOffline => "Sparad i appen – skickas när du är online.",
        StartTitle => "Start",
        BoxEmpty => "Inget här just nu.",
        BoxCountAbsence => "Anmälda dagar framåt: {n}",
        BoxCountCare => "Dagar med tider framåt: {n}",
        BoxCountTalks => "Lediga tider: {n}",
        BoxCountInfo => "Publicerat: {n}",
        BoxCountCalendar => "Kommande händelser: {n}",
        BoxCountBlog => "Inlägg: {n}",
        BoxCountSchedule => "Lektioner i veckan: {n}",
        BoxCountOther => "Antal: {n}",
        BoxOpen => "Öppna {name}",
        BoxNotYetInApp => "Finns ännu inte i appen",
        BoxAbsence => "Frånvaro",
        BoxCarePreschool => "Tidsregistrering",
        BoxCareSchool => "Fritidsschema",
        BoxTalks => "Utvecklingssamtal",
        BoxInformation => "Information",
        BoxCalendar => "Kalender",
        BoxBlog => "Blogg",
        BoxSchedule => "Schema",
        BoxAssessments => "Bedömningar",
        BoxDocumentation => "Dokumentation",
        BoxPlans => "Planeringar",
        BoxContacts => "Kontaktlista",
        BoxAbsenceHint => "Anmäl frånvaro för idag eller imorgon",
        BoxCareHint => "Se och registrera tider",
        BoxTalksHint => "Boka tid för samtal",
        BoxInfoHint => "Nyheter, filer och länkar",
        UnitPreschool => "Förskola",
        UnitSchool => "Grundskola",
        UnitGymnasium => "Gymnasium",
        BookedTalk => "Bokat samtal {when}",
        AbsenceTitle => "Frånvaro",
        AbsenceLead => "Anmäl frånvaro för {name}. Du kan anmäla för idag eller imorgon.",
        AbsenceDay => "Dag",
        Today => "Idag",
        Tomorrow => "Imorgon",
        WholeDay => "Hela dagen",
        ChosenLessons => "Valda lektioner",
        ChooseLessons => "Välj lektioner",
        NoLessonsThatDay => "Inga lektioner den dagen.",
        AbsenceComment => "Kommentar (valfri)",
        AbsenceCommentHelp => "Till exempel: ”Ledig, besöker mormor.”",
        GdprReminder => "Skriv inget om hälsa eller sjukdom. Sådana uppgifter är känsliga personuppgifter och ska inte skickas här.",
        ReportAbsence => "Anmäl frånvaro",
        Reporting => "Anmäler…",
        AbsenceSaved => "Frånvaron är anmäld.",
        AbsenceChangeViaSchool => "En anmäld frånvaro kan inte ändras eller tas bort i appen. Kontakta förskolan eller skolan om något behöver ändras.",
        AbsenceHistory => "Historik",
        NoAbsences => "Ingen frånvaro anmäld.",
        StatusNone => "Närvarande",
        StatusReported => "Anmäld",
        StatusConfirmed => "Bekräftad",
        StatusPending => "Väntar på att skickas",
        ReportedBy => "Anmäld av {name}",
        AlreadyReported => "Frånvaro är redan anmäld för den här dagen.",
        ChooseAtLeastOneLesson => "Välj minst en lektion, eller välj hela dagen.",
        CharsLeft => "{n} tecken kvar",
        LessonsCount => "{n} lektioner",
        CareTitlePreschool => "Tidsregistrering",
        CareTitleSchool => "Fritidsschema",
        CareLead => "Registrera när {name} är på förskolan. Ändringar görs senast dagen innan.",
        CareLeadSchool => "Registrera när {name} är på fritids. Ändringar görs senast dagen innan.",
        PrevWeek => "Föregående vecka",
        NextWeek => "Nästa vecka",
        ThisWeek => "Denna vecka",
        WeekNumber => "Vecka {n}",
        OpeningHours => "Öppet {from}–{to}",
        ClosedDay => "Stängt",
        LockedDay => "Låst",
        LockedHelp => "Dagen kan inte längre ändras i appen. Skicka ett meddelande eller ring i stället.",
        NotRegistered => "Ingen tid",
        EditDay => "Ändra",
        EditWeek => "Registrera hela veckan",
        EditDayTitle => "Tider {date}",
        EditWeekTitle => "Veckoschema från {date}",
        From => "Från",
        To => "Till",
        Interval1 => "Tid 1",
        Interval2 => "Tid 2",
        AddInterval => "Lägg till en tid till",
        RemoveInterval => "Ta bort tid 2",
        CareComment => "Kommentar (valfri)",
        CareCommentHelp => "Till exempel: ”Morfar hämtar.”",
        Save => "Spara",
        Saving => "Sparar…",
        Cancel => "Avbryt",
        ClearDay => "Ta bort dagens tider",
        ChangedBy => "Ändrad av {name}",
        ChangedByOther => "{name} ändrade den här dagen",
        StaffComments => "Kommentarer",
        CommentBy => "{name}:",
        CareNotEditable => "Enheten registrerar tiderna. Kontakta personalen om något behöver ändras.",
        WeekNotEditable => "Veckan har redan börjat. Hela veckor registreras från en vecka som inte har börjat – ändra enstaka dagar i stället.",
        DaySaved => "Tiderna är sparade.",
        WeekSaved => "Veckoschemat är sparat.",
        PendingChange => "Väntar på att skickas",
        RepeatTitle => "Upprepa",
        RepeatNone => "Bara den här veckan",
        RepeatEvery => "Upprepa schemat",
        RepeatEveryWeeks => "Var",
        RepeatEndCount => "Antal veckor",
        RepeatEndUntil => "Till och med datum",
        RepeatWeeksCount => "Antal veckor (första inräknad)",
        RepeatUntilDate => "Sista datum",
        WeekDayOff => "Ledig",
        CommentBubble => "Kommentar",
        ErrTimeFormat => "Skriv tiden som TT:MM, till exempel 07:30.",
        ErrIntervals => "En tid måste sluta efter att den börjar, och två tider får inte gå omlott eller mötas.",
        ErrOutsideHours => "Tiden måste ligga inom öppettiderna, {from}–{to}.",
        ErrCommentTooLong => "Kommentaren är för lång.",
        ErrNoDayInWeek => "Fyll i tider för minst en dag.",
        ErrRepeatEvery => "Välj hur ofta schemat ska upprepas (minst varje vecka).",
        ErrRepeatCount => "Ange antal veckor (minst 1).",
        ErrRepeatUntil => "Ange ett datum efter veckans början.",
        UseSameTimes => "Samma tider alla dagar",
        ReasonAbsenceOutOfWindow => "Frånvaro kan bara anmälas för idag eller imorgon.",
        ReasonDayLocked => "Dagen är låst. Ändringar måste göras senast dagen innan.",
        ReasonOutsideOpeningHours => "Tiden ligger utanför öppettiderna.",
        ReasonUnitClosed => "Förskolan eller fritids är stängd den dagen.",
        ReasonSlotTaken => "Tiden har redan bokats av någon annan.",
        ReasonAlreadyBooked => "Ett samtal är redan bokat för barnet.",
        ReasonNoArrival => "Det finns ingen ankomst registrerad.",
        ReasonTimeInFuture => "Tiden ligger för långt fram.",
        ReasonNotPermitted => "Du har inte behörighet att göra det här.",
        ReasonNotFound => "Det du ändrade finns inte längre.",
        ReasonInvalidInput => "Uppgifterna var inte giltiga.",
        ReasonCursorExpired => "Appen behövde hämta allt på nytt.",
        ReasonPinTrivial => "Koden är för lätt att gissa. Välj fyra andra siffror.",
        ReasonPinLocked => "Koden är spärrad efter fem felaktiga försök. Logga in med lösenord.",
        ReasonPairingInvalid => "Kopplingskoden gäller inte (fel, redan använd eller för gammal). Be om en ny kod.",
        ErrNotSignedIn => "Du är inte inloggad.",
        ErrNetwork => "Servern gick inte att nå. Kontrollera anslutningen och adressen.",
        ErrServer => "Något gick fel på servern. Försök igen om en stund.",
        ErrStorage => "Appen kunde inte spara på enheten.",
        ErrKeyring => "Appen kunde inte nå enhetens nyckelring.",
        ErrUnknown => "Något gick fel.",
        WhatAbsence => "Frånvaroanmälan {date}",
        WhatCareDay => "Tider {date}",
        WhatCareClear => "Borttagna tider {date}",
        WhatCareWeek => "Veckoschema från {date}",
        WhatCareComment => "Kommentar {date}",
        WhatTalkBook => "Bokning av utvecklingssamtal",
        WhatTalkCancel => "Avbokning av utvecklingssamtal",
        WhatNotificationRead => "Markera som läst",
        WhatOther => "Ändring",
        NotificationsTitle => "Nytt",
        NoNotifications => "Inget nytt just nu.",
        MarkAllRead => "Markera alla som lästa",
        Unread => "Oläst",
        CatNews => "Nyheter",
        CatFiles => "Filer",
        CatCalendar => "Kalenderhändelser",
        CatBlog => "Blogginlägg",
        CatAssessment => "Bedömningar",
        CatTalkSlots => "Tider för utvecklingssamtal",
        CatAbsenceConfirmed => "Bekräftad frånvaro",
        CatAbsenceInvalid => "Ogiltig frånvaro",
        SettingsTitle => "Inställningar",
        PushTitle => "Pushnotiser",
        PushLead => "Välj vad du vill få notiser om. Klockan räknar alltid allt nytt.",
        LanguageTitle => "Språk",
        Swedish => "Svenska",
        English => "English",
        SignOut => "Logga ut",
        SignedInAs => "Inloggad som {name}",
        AccountTitle => "Konto",
        SettingsSaved => "Inställningarna är sparade.",
        On => "På",
        Off => "Av",
        InfoTitle => "Information",
        News => "Nyheter",
        Files => "Filer",
        Links => "Länkar",
        CalendarTitle => "Kalender",
        BlogTitle => "Blogg",
        Nothing => "Inget här ännu.",
        TalksTitle => "Utvecklingssamtal",
        TalksLead => "Välj en ledig tid. Du kan skriva ett meddelande till läraren.",
        BookTalk => "Boka",
        CancelBooking => "Avboka",
        YourBooking => "Din bokning",
        SlotFree => "Ledig",
        SlotTaken => "Bokad",
        TalkMessage => "Meddelande till läraren (valfritt)",
        MinutesShort => "{n} min",
        NotYetTitle => "Kommer snart",
        NotYetLead => "Den här delen finns ännu inte i appen.",
        Loading => "Laddar…",
        Retry => "Försök igen",
        Close => "Stäng",
        Done => "Klar",
        NoAbsence => "Ingen frånvaro",
        PairTabletLink => "Koppla den här surfplattan till en förskola",
        PairTitle => "Koppla surfplatta",
        PairLead => "Be en medarbetare skapa en kopplingskod under Surfplattor i sin app. Koden gäller i 60 minuter.",
        PairingCode => "Kopplingskod",
        DeviceName => "Namn på surfplattan (valfritt)",
        PairButton => "Koppla",
        PairingBusy => "Kopplar…",
        BackToSignIn => "Tillbaka till inloggningen",
        WhoAreYou => "Vem är du?",
        LockLead => "Tryck på ditt namn och skriv din kod.",
        PinFor => "Kod för {name}",
        PinLabel => "Kod (fyra siffror)",
        Unlock => "Lås upp",
        EraseDigit => "Sudda en siffra",
        WrongPin => "Fel kod. {n} försök kvar.",
        PinLockedLead => "Koden är spärrad efter fem felaktiga försök i rad. Logga in med ditt lösenord för att låsa upp den.",
        NoPinLead => "Du har ingen kod ännu. Logga in med lösenord och välj en kod under Inställningar i din app.",
        SignInWithPassword => "Logga in med lösenord",
        NeedsNetwork => "Inloggning med lösenord kräver nätverk.",
        SwitchPerson => "Byt person",
        TabletOf => "Surfplatta · {unit}",
        ActiveStaff => "Inloggad: {name}",
        Unpair => "Koppla bort surfplattan",
        UnpairLead => "Surfplattan glömmer förskolan och dess uppgifter. Den kan kopplas igen med en ny kod.",
        UnpairAnyway => "Koppla bort ändå",
        RevokedLead => "Surfplattans koppling har tagits bort. Koppla den igen med en ny kod.",
        RoomTitle => "Barnen idag",
        AllGroups => "Alla",
        PrevDay => "Föregående dag",
        NextDay => "Nästa dag",
        TotalsLine => "{present} här · {expected} väntas · {absent} frånvarande · {departed} har gått hem",
        ExpectedStatus => "Väntas",
        ArrivedAt => "Kom {time}",
        DepartedAt => "Gick {time}",
        MarkArrived => "Har kommit",
        MarkDeparted => "Har gått hem",
        AbsentReported => "Frånvaroanmäld",
        AbsentConfirmed => "Frånvaro bekräftad",
        NewComment => "Ny kommentar",
        AttendanceTitle => "Närvaro",
        TimeLabel => "Klockslag",
        ArrivalSaved => "Ankomsten är sparad",
        DepartureSaved => "Hämtningen är sparad",
        ConfirmAbsence => "Bekräfta frånvaron",
        AbsenceConfirmedSaved => "Frånvaron är bekräftad",
        RegisterAbsence => "Registrera frånvaro",
        AbsenceRegistered => "Frånvaron är registrerad",
        CommentsTitle => "Kommentarer",
        WriteComment => "Skriv en kommentar till vårdnadshavarna",
        SendComment => "Skicka",
        CommentSaved => "Kommentaren är sparad",
        NoComments => "Inga kommentarer",
        DayNote => "Vårdnadshavarnas notering",
        PlannedTimes => "Planerade tider",
        NoChildren => "Inga barn här",
        TabletsTitle => "Surfplattor",
        TabletsLead => "Koppla en surfplatta till en enhet: skapa en kod här och skriv in den på surfplattan inom 60 minuter.",
        UnitLabel => "Enhet",
        CreatePairing => "Skapa kopplingskod",
        PairingCodeFor => "Kopplingskod för {unit}",
        ValidUntil => "Gäller till {time}",
        PairedTablets => "Kopplade surfplattor",
        NoTablets => "Inga surfplattor ännu",
        PairedBy => "Kopplad {date} av {name}",
        LastSeen => "Senast aktiv {date}",
        Revoke => "Ta bort kopplingen",
        RevokedAt => "Bortkopplad {date}",
        RevokedToast => "Surfplattan är bortkopplad",
        OpenPairings => "Koder som inte har använts",
        PinTitle => "Din kod för surfplattor",
        PinLead => "Fyra siffror som du låser upp enhetens surfplattor med. Enkla koder som 0000 eller 1234 går inte.",
        NewPin => "Ny kod",
        RepeatPin => "Upprepa koden",
        SavePin => "Spara koden",
        PinSaved => "Koden är sparad",
        PinMismatch => "Koderna är inte lika",
        RemovePin => "Ta bort koden",
        PinRemoved => "Koden är borttagen",
        ErrTabletLocked => "Surfplattan är låst. Lås upp med din kod.",
        ErrOutboxNotEmpty => "Alla ändringar är inte skickade än. Anslut till nätverket först.",
        WhatAttendance => "Närvaro",
        WhatAbsenceConfirm => "Bekräftad frånvaro",
        WhatCommentSeen => "Läst kommentar",
        WhatPinAttempt => "Upplåsning med kod",
    }
}

fn en(key: K) -> &'static str {
    use K::*;
    match key {
        AppName => "Hub",
        AppTagline => "Preschool and school in your pocket",
        SignInTitle => "Sign in",
        SignInLead => "Sign in with the username and password from your activation e-mail.",
        Username => "Username",
        Password => "Password",
        ServerUrl => "Server address",
        ServerUrlHelp => "The address of your municipality's Hub server.",
        SignIn => "Sign in",
        SigningIn => "Signing in…",
        InvalidCredentials => "Wrong username or password. Upper and lower case letters are different.",
        TrailingSpaceHint => "The password ends with a space. If you copied the password, the space may have come along – remove it and try again.",
        CaseSensitiveHint => "Username and password are case-sensitive.",
        ShowPassword => "Show password",
        HidePassword => "Hide password",
        ChooseChild => "Choose child",
        Bell => "New",
        BellLabel => "{n} new items",
        Envelope => "Messages",
        EnvelopeLabel => "{n} unread messages",
        Settings => "Settings",
        Back => "Back",
        Home => "Home",
        Menu => "Menu",
        Online => "Online",
        Offline => "Offline",
        OfflineLead => "You are offline. Your changes are kept in the app and sent when the connection is back.",
        Syncing => "Syncing…",
        PendingCount => "{n} changes waiting",
        PendingOne => "1 change waiting",
        AttentionCount => "{n} changes need attention",
        AttentionOne => "1 change needs attention",
        SyncNow => "Sync now",
        LastSync => "Last synced {time}",
        NeverSynced => "Not synced yet",
        NeedsSignIn => "Please sign in again. Your changes are kept and sent after you sign in.",
        SyncTitle => "Changes",
        PendingTitle => "Waiting to be sent",
        NothingPending => "Everything has been sent.",
        AttentionTitle => "Needs attention",
        AttentionLead => "These changes could not be saved. Edit and resend them, or dismiss them.",
        NothingNeedsAttention => "Nothing needs attention.",
        EditResend => "Edit and resend",
        Dismiss => "Dismiss",
        Reason => "Reason",
        WhatToDo => "What now?",
        WhatToDoLocked => "Send a message or call the preschool or school instead.",
        WhatToDoEdit => "Edit the details and send again, or dismiss the change.",
        QueuedAt => "Made {time}",
        Attempts => "{n} attempts",
        SavedOffline => "Saved in the app – sent when you are online.",
        StartTitle => "Home",
        BoxEmpty => "Nothing here right now.",
        BoxCountAbsence => "Reported days ahead: {n}",
        BoxCountCare => "Days with times ahead: {n}",
        BoxCountTalks => "Free times: {n}",
        BoxCountInfo => "Published: {n}",
        BoxCountCalendar => "Coming events: {n}",
        BoxCountBlog => "Posts: {n}",
        BoxCountSchedule => "Lessons a week: {n}",
        BoxCountOther => "Items: {n}",
        BoxOpen => "Open {name}",
        BoxNotYetInApp => "Not in the app yet",
        BoxAbsence => "Absence",
        BoxCarePreschool => "Care times",
        BoxCareSchool => "After-school schedule",
        BoxTalks => "Development talks",
        BoxInformation => "Information",
        BoxCalendar => "Calendar",
        BoxBlog => "Blog",
        BoxSchedule => "Schedule",
        BoxAssessments => "Assessments",
        BoxDocumentation => "Documentation",
        BoxPlans => "Plans",
        BoxContacts => "Contact list",
        BoxAbsenceHint => "Report absence for today or tomorrow",
        BoxCareHint => "See and register times",
        BoxTalksHint => "Book a time for a talk",
        BoxInfoHint => "News, files and links",
        UnitPreschool => "Preschool",
        UnitSchool => "School",
        UnitGymnasium => "Upper secondary",
        BookedTalk => "Talk booked {when}",
        AbsenceTitle => "Absence",
        AbsenceLead => "Report absence for {name}. You can report for today or tomorrow.",
        AbsenceDay => "Day",
        Today => "Today",
        Tomorrow => "Tomorrow",
        WholeDay => "Whole day",
        ChosenLessons => "Chosen lessons",
        ChooseLessons => "Choose lessons",
        NoLessonsThatDay => "No lessons that day.",
        AbsenceComment => "Comment (optional)",
        AbsenceCommentHelp => "For example: “Day off, visiting grandma.”",
        GdprReminder => "Do not write about health or illness. Such details are sensitive personal data and must not be sent here.",
        ReportAbsence => "Report absence",
        Reporting => "Reporting…",
        AbsenceSaved => "The absence is reported.",
        AbsenceChangeViaSchool => "A reported absence cannot be changed or withdrawn in the app. Contact the preschool or school if something needs to change.",
        AbsenceHistory => "History",
        NoAbsences => "No absence reported.",
        StatusNone => "Present",
        StatusReported => "Reported",
        StatusConfirmed => "Confirmed",
        StatusPending => "Waiting to be sent",
        ReportedBy => "Reported by {name}",
        AlreadyReported => "Absence is already reported for this day.",
        ChooseAtLeastOneLesson => "Choose at least one lesson, or choose the whole day.",
        CharsLeft => "{n} characters left",
        LessonsCount => "{n} lessons",
        CareTitlePreschool => "Care times",
        CareTitleSchool => "After-school schedule",
        CareLead => "Register when {name} is at preschool. Changes are made the day before at the latest.",
        CareLeadSchool => "Register when {name} is in after-school care. Changes are made the day before at the latest.",
        PrevWeek => "Previous week",
        NextWeek => "Next week",
        ThisWeek => "This week",
        WeekNumber => "Week {n}",
        OpeningHours => "Open {from}–{to}",
        ClosedDay => "Closed",
        LockedDay => "Locked",
        LockedHelp => "This day can no longer be changed in the app. Send a message or call instead.",
        NotRegistered => "No times",
        EditDay => "Edit",
        EditWeek => "Register the whole week",
        EditDayTitle => "Times {date}",
        EditWeekTitle => "Week schedule from {date}",
        From => "From",
        To => "To",
        Interval1 => "Time 1",
        Interval2 => "Time 2",
        AddInterval => "Add another time",
        RemoveInterval => "Remove time 2",
        CareComment => "Comment (optional)",
        CareCommentHelp => "For example: “Grandpa picks up.”",
        Save => "Save",
        Saving => "Saving…",
        Cancel => "Cancel",
        ClearDay => "Remove the day's times",
        ChangedBy => "Changed by {name}",
        ChangedByOther => "{name} changed this day",
        StaffComments => "Comments",
        CommentBy => "{name}:",
        CareNotEditable => "The unit registers the times. Contact the staff if something needs to change.",
        WeekNotEditable => "This week has already started. Whole weeks are registered from a week that has not started – change single days instead.",
        DaySaved => "The times are saved.",
        WeekSaved => "The week schedule is saved.",
        PendingChange => "Waiting to be sent",
        RepeatTitle => "Repeat",
        RepeatNone => "This week only",
        RepeatEvery => "Repeat the schedule",
        RepeatEveryWeeks => "Every",
        RepeatEndCount => "Number of weeks",
        RepeatEndUntil => "Until a date",
        RepeatWeeksCount => "Number of weeks (the first included)",
        RepeatUntilDate => "Last date",
        WeekDayOff => "Off",
        CommentBubble => "Comment",
        ErrTimeFormat => "Write the time as HH:MM, for example 07:30.",
        ErrIntervals => "A time must end after it starts, and two times may not overlap or touch.",
        ErrOutsideHours => "The time must be within the opening hours, {from}–{to}.",
        ErrCommentTooLong => "The comment is too long.",
        ErrNoDayInWeek => "Fill in times for at least one day.",
        ErrRepeatEvery => "Choose how often to repeat (at least every week).",
        ErrRepeatCount => "Enter a number of weeks (at least 1).",
        ErrRepeatUntil => "Enter a date after the start of the week.",
        UseSameTimes => "Same times every day",
        ReasonAbsenceOutOfWindow => "Absence can only be reported for today or tomorrow.",
        ReasonDayLocked => "The day is locked. Changes must be made the day before at the latest.",
        ReasonOutsideOpeningHours => "The time is outside the opening hours.",
        ReasonUnitClosed => "The preschool or after-school care is closed that day.",
        ReasonSlotTaken => "Someone else has already booked that time.",
        ReasonAlreadyBooked => "A talk is already booked for the child.",
        ReasonNoArrival => "No arrival has been registered.",
        ReasonTimeInFuture => "The time is too far ahead.",
        ReasonNotPermitted => "You are not allowed to do this.",
        ReasonNotFound => "What you changed no longer exists.",
        ReasonInvalidInput => "The details were not valid.",
        ReasonCursorExpired => "The app needed to fetch everything again.",
        ReasonPinTrivial => "This PIN is too easy to guess. Choose four other digits.",
        ReasonPinLocked => "The PIN is locked after five wrong tries. Sign in with your password.",
        ReasonPairingInvalid => "The pairing code is not valid (wrong, already used or too old). Ask for a new code.",
        ErrNotSignedIn => "You are not signed in.",
        ErrNetwork => "The server could not be reached. Check the connection and the address.",
        ErrServer => "Something went wrong on the server. Try again in a while.",
        ErrStorage => "The app could not save on this device.",
        ErrKeyring => "The app could not reach the device's keyring.",
        ErrUnknown => "Something went wrong.",
        WhatAbsence => "Absence report {date}",
        WhatCareDay => "Times {date}",
        WhatCareClear => "Removed times {date}",
        WhatCareWeek => "Week schedule from {date}",
        WhatCareComment => "Comment {date}",
        WhatTalkBook => "Booking of a development talk",
        WhatTalkCancel => "Cancellation of a development talk",
        WhatNotificationRead => "Mark as read",
        WhatOther => "Change",
        NotificationsTitle => "New",
        NoNotifications => "Nothing new right now.",
        MarkAllRead => "Mark all as read",
        Unread => "Unread",
        CatNews => "News",
        CatFiles => "Files",
        CatCalendar => "Calendar events",
        CatBlog => "Blog posts",
        CatAssessment => "Assessments",
        CatTalkSlots => "Development talk times",
        CatAbsenceConfirmed => "Confirmed absence",
        CatAbsenceInvalid => "Invalid absence",
        SettingsTitle => "Settings",
        PushTitle => "Push notifications",
        PushLead => "Choose what you want notifications about. The bell always counts everything new.",
        LanguageTitle => "Language",
        Swedish => "Svenska",
        English => "English",
        SignOut => "Sign out",
        SignedInAs => "Signed in as {name}",
        AccountTitle => "Account",
        SettingsSaved => "Settings saved.",
        On => "On",
        Off => "Off",
        InfoTitle => "Information",
        News => "News",
        Files => "Files",
        Links => "Links",
        CalendarTitle => "Calendar",
        BlogTitle => "Blog",
        Nothing => "Nothing here yet.",
        TalksTitle => "Development talks",
        TalksLead => "Choose a free time. You can write a message to the teacher.",
        BookTalk => "Book",
        CancelBooking => "Cancel booking",
        YourBooking => "Your booking",
        SlotFree => "Free",
        SlotTaken => "Booked",
        TalkMessage => "Message to the teacher (optional)",
        MinutesShort => "{n} min",
        NotYetTitle => "Coming soon",
        NotYetLead => "This part is not in the app yet.",
        Loading => "Loading…",
        Retry => "Try again",
        Close => "Close",
        Done => "Done",
        NoAbsence => "No absence",
        PairTabletLink => "Pair this tablet with a preschool",
        PairTitle => "Pair tablet",
        PairLead => "Ask a staff member to create a pairing code under Tablets in their app. The code is valid for 60 minutes.",
        PairingCode => "Pairing code",
        DeviceName => "Name of the tablet (optional)",
        PairButton => "Pair",
        PairingBusy => "Pairing…",
        BackToSignIn => "Back to sign-in",
        WhoAreYou => "Who are you?",
        LockLead => "Tap your name and enter your PIN.",
        PinFor => "PIN for {name}",
        PinLabel => "PIN (four digits)",
        Unlock => "Unlock",
        EraseDigit => "Erase a digit",
        WrongPin => "Wrong PIN. {n} tries left.",
        PinLockedLead => "The PIN is locked after five wrong tries in a row. Sign in with your password to unlock it.",
        NoPinLead => "You have no PIN yet. Sign in with your password and choose a PIN under Settings in your app.",
        SignInWithPassword => "Sign in with password",
        NeedsNetwork => "Signing in with a password needs the network.",
        SwitchPerson => "Switch person",
        TabletOf => "Tablet · {unit}",
        ActiveStaff => "Signed in: {name}",
        Unpair => "Unpair this tablet",
        UnpairLead => "The tablet forgets the preschool and its data. It can be paired again with a new code.",
        UnpairAnyway => "Unpair anyway",
        RevokedLead => "This tablet's pairing was revoked. Pair it again with a new code.",
        RoomTitle => "Children today",
        AllGroups => "All",
        PrevDay => "Previous day",
        NextDay => "Next day",
        TotalsLine => "{present} here · {expected} expected · {absent} absent · {departed} gone home",
        ExpectedStatus => "Expected",
        ArrivedAt => "Arrived {time}",
        DepartedAt => "Left {time}",
        MarkArrived => "Arrived",
        MarkDeparted => "Left",
        AbsentReported => "Reported absent",
        AbsentConfirmed => "Absence confirmed",
        NewComment => "New comment",
        AttendanceTitle => "Attendance",
        TimeLabel => "Time",
        ArrivalSaved => "Arrival saved",
        DepartureSaved => "Departure saved",
        ConfirmAbsence => "Confirm the absence",
        AbsenceConfirmedSaved => "The absence is confirmed",
        RegisterAbsence => "Register absence",
        AbsenceRegistered => "The absence is registered",
        CommentsTitle => "Comments",
        WriteComment => "Write a comment to the guardians",
        SendComment => "Send",
        CommentSaved => "Comment saved",
        NoComments => "No comments",
        DayNote => "The guardians' note",
        PlannedTimes => "Planned times",
        NoChildren => "No children here",
        TabletsTitle => "Tablets",
        TabletsLead => "Pair a tablet with a unit: create a code here and enter it on the tablet within 60 minutes.",
        UnitLabel => "Unit",
        CreatePairing => "Create pairing code",
        PairingCodeFor => "Pairing code for {unit}",
        ValidUntil => "Valid until {time}",
        PairedTablets => "Paired tablets",
        NoTablets => "No tablets yet",
        PairedBy => "Paired {date} by {name}",
        LastSeen => "Last active {date}",
        Revoke => "Revoke",
        RevokedAt => "Revoked {date}",
        RevokedToast => "The tablet is revoked",
        OpenPairings => "Codes not used yet",
        PinTitle => "Your PIN for tablets",
        PinLead => "Four digits to unlock your unit's tablets. Easy PINs such as 0000 or 1234 are refused.",
        NewPin => "New PIN",
        RepeatPin => "Repeat the PIN",
        SavePin => "Save PIN",
        PinSaved => "PIN saved",
        PinMismatch => "The PINs differ",
        RemovePin => "Remove PIN",
        PinRemoved => "PIN removed",
        ErrTabletLocked => "The tablet is locked. Unlock it with your PIN.",
        ErrOutboxNotEmpty => "Not all changes are sent yet. Connect to the network first.",
        WhatAttendance => "Attendance",
        WhatAbsenceConfirm => "Absence confirmation",
        WhatCommentSeen => "Comment read",
        WhatPinAttempt => "PIN unlock",
    }
}

/// Weekday names, 1 = Monday … 7 = Sunday.
pub fn weekday_short(locale: Locale, weekday: u8) -> &'static str {
    const SV: [&str; 7] = ["mån", "tis", "ons", "tor", "fre", "lör", "sön"];
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let i = usize::from(weekday.clamp(1, 7) - 1);
    match locale {
        Locale::Sv => SV[i],
        Locale::En => EN[i],
    }
}

pub fn weekday_long(locale: Locale, weekday: u8) -> &'static str {
    const SV: [&str; 7] = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"];
    const EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    let i = usize::from(weekday.clamp(1, 7) - 1);
    match locale {
        Locale::Sv => SV[i],
        Locale::En => EN[i],
    }
}

/// Month names, 1 = January.
pub fn month_short(locale: Locale, month: u32) -> &'static str {
    const SV: [&str; 12] = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];
    const EN: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let i = (month.clamp(1, 12) - 1) as usize;
    match locale {
        Locale::Sv => SV[i],
        Locale::En => EN[i],
    }
}

pub fn box_name(locale: Locale, kind: BoxKind, unit: UnitKind) -> &'static str {
    let key = match kind {
        BoxKind::Absence => K::BoxAbsence,
        BoxKind::CareSchedule if unit == UnitKind::Preschool => K::BoxCarePreschool,
        BoxKind::CareSchedule => K::BoxCareSchool,
        BoxKind::Talks => K::BoxTalks,
        BoxKind::Information => K::BoxInformation,
        BoxKind::Calendar => K::BoxCalendar,
        BoxKind::Blog => K::BoxBlog,
        BoxKind::Schedule => K::BoxSchedule,
        BoxKind::Assessments => K::BoxAssessments,
        BoxKind::Documentation => K::BoxDocumentation,
        BoxKind::Plans => K::BoxPlans,
        BoxKind::Contacts => K::BoxContacts,
    };
    t(locale, key)
}

pub fn unit_kind(locale: Locale, kind: UnitKind) -> &'static str {
    t(
        locale,
        match kind {
            UnitKind::Preschool => K::UnitPreschool,
            UnitKind::School => K::UnitSchool,
            UnitKind::Gymnasium => K::UnitGymnasium,
        },
    )
}

pub fn category(locale: Locale, c: NotificationCategory) -> &'static str {
    use NotificationCategory as C;
    t(
        locale,
        match c {
            C::News => K::CatNews,
            C::Files => K::CatFiles,
            C::Calendar => K::CatCalendar,
            C::Blog => K::CatBlog,
            C::Assessment => K::CatAssessment,
            C::TalkSlots => K::CatTalkSlots,
            C::AbsenceConfirmed => K::CatAbsenceConfirmed,
            C::AbsenceInvalid => K::CatAbsenceInvalid,
        },
    )
}

/// The translated reason for a rejection (the needs-attention list translates by code,
/// never by the server's English message).
pub fn reason(locale: Locale, code: RejectCode) -> &'static str {
    t(locale, reason_key(code))
}

pub fn reason_key(code: RejectCode) -> K {
    match code {
        RejectCode::AbsenceOutOfWindow => K::ReasonAbsenceOutOfWindow,
        RejectCode::DayLocked => K::ReasonDayLocked,
        RejectCode::OutsideOpeningHours => K::ReasonOutsideOpeningHours,
        RejectCode::UnitClosed => K::ReasonUnitClosed,
        RejectCode::SlotTaken => K::ReasonSlotTaken,
        RejectCode::AlreadyBooked => K::ReasonAlreadyBooked,
        RejectCode::NoArrival => K::ReasonNoArrival,
        RejectCode::TimeInFuture => K::ReasonTimeInFuture,
        RejectCode::NotPermitted => K::ReasonNotPermitted,
        RejectCode::NotFound => K::ReasonNotFound,
        RejectCode::InvalidInput => K::ReasonInvalidInput,
        RejectCode::CursorExpired => K::ReasonCursorExpired,
        RejectCode::PinTrivial => K::ReasonPinTrivial,
        RejectCode::PinLocked => K::ReasonPinLocked,
        RejectCode::PairingInvalid => K::ReasonPairingInvalid,
    }
}

/// The translated text for an error code of the shell (`CoreError.code`): a rejection code
/// or one of `not_signed_in`, `invalid_credentials`, `network`, `server`, `storage`, `keyring`.
pub fn error_code(locale: Locale, code: &str) -> &'static str {
    if let Some(rc) = RejectCode::parse(code) {
        return reason(locale, rc);
    }
    t(
        locale,
        match code {
            "not_signed_in" | "unauthorized" => K::ErrNotSignedIn,
            "invalid_credentials" => K::InvalidCredentials,
            "network" => K::ErrNetwork,
            "server" | "internal" => K::ErrServer,
            "storage" => K::ErrStorage,
            "keyring" => K::ErrKeyring,
            "tablet_locked" => K::ErrTabletLocked,
            "outbox_not_empty" => K::ErrOutboxNotEmpty,
            _ => K::ErrUnknown,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = s;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            match after.find('}') {
                Some(end) => {
                    out.insert(after[..end].to_string());
                    rest = &after[end + 1..];
                }
                None => break,
            }
        }
        out
    }

    #[test]
    fn every_key_has_swedish_and_english_text() {
        for &k in K::ALL {
            let (s, e) = (sv(k), en(k));
            assert!(!s.trim().is_empty(), "{k:?} has no Swedish text");
            assert!(!e.trim().is_empty(), "{k:?} has no English text");
            assert_eq!(s.trim(), s, "{k:?}: Swedish text has stray white space");
            assert_eq!(e.trim(), e, "{k:?}: English text has stray white space");
        }
    }

    #[test]
    fn both_languages_use_the_same_placeholders() {
        for &k in K::ALL {
            assert_eq!(placeholders(sv(k)), placeholders(en(k)), "{k:?}");
        }
    }

    #[test]
    fn swedish_is_really_swedish() {
        // A key copied from one table to the other by mistake shows up as identical text.
        // Names of languages and the product are the same in both, on purpose.
        let same_on_purpose = [K::AppName, K::Swedish, K::English, K::BoxInformation, K::Bell]
            .into_iter()
            .collect::<std::collections::HashSet<_>>();
        let identical: Vec<K> = K::ALL
            .iter()
            .copied()
            .filter(|k| !same_on_purpose.contains(k) && sv(*k) == en(*k))
            .collect();
        // A few words are the same in both languages ("Offline", "Hub"…); keep it small.
        assert!(identical.len() <= 6, "identical sv/en texts: {identical:?}");
    }

    #[test]
    fn every_reject_code_and_category_has_a_text() {
        for code in RejectCode::ALL {
            for l in [Locale::Sv, Locale::En] {
                assert!(!reason(l, code).is_empty());
                assert_eq!(error_code(l, code.as_str()), reason(l, code));
            }
        }
        for c in NotificationCategory::ALL {
            assert_ne!(category(Locale::Sv, c), category(Locale::En, c));
        }
        assert_eq!(error_code(Locale::Sv, "network"), sv(K::ErrNetwork));
        assert_eq!(error_code(Locale::En, "whatever"), en(K::ErrUnknown));
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(tf(Locale::Sv, K::PendingCount, &[("n", "2")]), "2 ändringar väntar");
        assert_eq!(tf(Locale::En, K::WeekNumber, &[("n", "48")]), "Week 48");
    }

    #[test]
    fn day_and_month_names() {
        assert_eq!(weekday_short(Locale::Sv, 4), "tor");
        assert_eq!(weekday_long(Locale::En, 7), "Sunday");
        assert_eq!(month_short(Locale::Sv, 5), "maj");
        assert_eq!(box_name(Locale::Sv, BoxKind::CareSchedule, UnitKind::School), "Fritidsschema");
        assert_eq!(box_name(Locale::Sv, BoxKind::CareSchedule, UnitKind::Preschool), "Tidsregistrering");
    }
}
