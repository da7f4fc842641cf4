"""What MQL5 declares by itself: keywords, types, functions, constants and predefined variables.

The lists follow the MQL5 Reference (docs.mql5.com). They aim at the names Expert Advisors use;
a name missing here would be reported as undeclared, so constants are also accepted by their
documented families (``SYMBOL_…``, ``ORDER_…``, ``clr…``): a misspelt member of a family is not
caught, which keeps the checker from ever rejecting code MetaEditor accepts.

:data:`STANDARD_HEADERS` maps the Standard Library headers an EA commonly includes to the classes
they declare. An include missing from it makes the checker stop reporting undeclared names,
since it cannot know what that file declares.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TYPE_KEYWORDS = _words("""
    bool char uchar short ushort int uint long ulong float double string datetime color void
    matrix matrixf matrixc vector vectorf vectorc complex
""")

KEYWORDS = TYPE_KEYWORDS | _words("""
    enum struct class union interface template typename typedef input sinput extern static const
    virtual override final public private protected operator new delete this sizeof return if else
    for while do switch case default break continue true false NULL export namespace using
""")

# Keywords that may open a statement: seen first on a line after a complete expression, they
# show that a ';' is missing at the end of the line before.
STATEMENT_KEYWORDS = TYPE_KEYWORDS | _words("""
    return if for while do switch break continue delete else case default static const input
    sinput extern enum struct class union
""")

BUILTIN_TYPES = _words("""
    MqlDateTime MqlRates MqlTick MqlParam MqlTradeRequest MqlTradeResult MqlTradeCheckResult
    MqlTradeTransaction MqlBookInfo MqlCalendarCountry MqlCalendarEvent MqlCalendarValue
""")

PREDEFINED_VARIABLES = _words("""
    _AppliedTo _Digits _Point _LastError _Period _RandomSeed _StopFlag _Symbol _UninitReason _IsX64
""")

FUNCTIONS = _words("""
    Alert CheckPointer Comment CryptDecode CryptEncode DebugBreak ExpertRemove GetPointer GetTickCount
    GetTickCount64 GetMicrosecondCount MessageBox PeriodSeconds PlaySound Print PrintFormat ResetLastError
    ResourceCreate ResourceFree ResourceReadImage ResourceSave SetUserError SetReturnError Sleep TerminalClose
    TesterHideIndicators TesterStatistics TesterStop TesterDeposit TesterWithdrawal TranslateKey ZeroMemory
    printf GetLastError IsStopped UninitializeReason MQLInfoInteger MQLInfoString MQLSetInteger TerminalInfoInteger
    TerminalInfoDouble TerminalInfoString Symbol Period Point Digits
    ArrayBsearch ArrayCopy ArrayCompare ArrayFree ArrayGetAsSeries ArrayInitialize ArrayFill ArrayIsDynamic
    ArrayIsSeries ArrayMaximum ArrayMinimum ArrayPrint ArrayRange ArrayResize ArrayInsert ArrayRemove
    ArrayReverse ArraySetAsSeries ArraySize ArraySort ArraySwap
    CharToString CharArrayToString CharArrayToStruct StructToCharArray ColorToARGB ColorToString
    DoubleToString EnumToString IntegerToString ShortToString ShortArrayToString TimeToString NormalizeDouble
    StringToCharArray StringToColor StringToDouble StringToInteger StringToShortArray StringToTime StringFormat
    MathAbs MathArccos MathArcsin MathArctan MathArctan2 MathClassify MathCeil MathCos MathExp MathFloor
    MathLog MathLog10 MathMax MathMin MathMod MathPow MathRand MathRound MathSin MathSqrt MathSrand MathTan
    MathIsValidNumber MathExpm1 MathLog1p MathArccosh MathArcsinh MathArctanh MathCosh MathSinh MathTanh
    MathSwap fabs fmax fmin fmod pow sqrt log log10 exp ceil floor round rand srand sin cos tan asin acos atan
    StringAdd StringBufferLen StringCompare StringConcatenate StringFill StringFind StringGetCharacter
    StringInit StringLen StringSetLength StringReplace StringReserve StringSetCharacter StringSplit
    StringSubstr StringToLower StringToUpper StringTrimLeft StringTrimRight
    TimeCurrent TimeTradeServer TimeLocal TimeGMT TimeDaylightSavings TimeGMTOffset TimeToStruct StructToTime
    AccountInfoDouble AccountInfoInteger AccountInfoString
    SymbolsTotal SymbolExist SymbolName SymbolSelect SymbolIsSynchronized SymbolInfoDouble SymbolInfoInteger
    SymbolInfoString SymbolInfoMarginRate SymbolInfoTick SymbolInfoSessionQuote SymbolInfoSessionTrade
    MarketBookAdd MarketBookRelease MarketBookGet
    SeriesInfoInteger Bars BarsCalculated IndicatorCreate IndicatorParameters IndicatorRelease CopyBuffer
    CopyRates CopySeries CopyTime CopyOpen CopyHigh CopyLow CopyClose CopyTickVolume CopyRealVolume CopySpread
    CopyTicks CopyTicksRange iBars iBarShift iClose iHigh iHighest iLow iLowest iOpen iTime iTickVolume
    iRealVolume iVolume iSpread
    OrderCalcMargin OrderCalcProfit OrderCheck OrderSend OrderSendAsync PositionsTotal PositionGetSymbol
    PositionSelect PositionSelectByTicket PositionGetDouble PositionGetInteger PositionGetString
    PositionGetTicket OrdersTotal OrderGetTicket OrderSelect OrderGetDouble OrderGetInteger OrderGetString
    HistorySelect HistorySelectByPosition HistoryOrderSelect HistoryOrdersTotal HistoryOrderGetTicket
    HistoryOrderGetDouble HistoryOrderGetInteger HistoryOrderGetString HistoryDealSelect HistoryDealsTotal
    HistoryDealGetTicket HistoryDealGetDouble HistoryDealGetInteger HistoryDealGetString
    GlobalVariableCheck GlobalVariableTime GlobalVariableDel GlobalVariableGet GlobalVariableName
    GlobalVariableSet GlobalVariablesFlush GlobalVariableTemp GlobalVariableSetOnCondition
    GlobalVariablesDeleteAll GlobalVariablesTotal
    FileOpen FileClose FileCopy FileDelete FileFindFirst FileFindNext FileFindClose FileFlush FileGetInteger
    FileIsEnding FileIsLineEnding FileIsExist FileMove FileReadArray FileReadBool FileReadDatetime
    FileReadDouble FileReadFloat FileReadInteger FileReadLong FileReadNumber FileReadString FileReadStruct
    FileSeek FileSize FileTell FileWrite FileWriteArray FileWriteDouble FileWriteFloat FileWriteInteger
    FileWriteLong FileWriteString FileWriteStruct FileLoad FileSave FolderCreate FolderDelete FolderClean
    ObjectCreate ObjectName ObjectDelete ObjectsDeleteAll ObjectFind ObjectGetTimeByValue
    ObjectGetValueByTime ObjectMove ObjectsTotal ObjectSetDouble ObjectSetInteger ObjectSetString
    ObjectGetDouble ObjectGetInteger ObjectGetString TextSetFont TextOut TextGetSize
    ChartApplyTemplate ChartSaveTemplate ChartWindowFind ChartTimePriceToXY ChartXYToTimePrice ChartOpen
    ChartFirst ChartNext ChartClose ChartSymbol ChartPeriod ChartRedraw ChartSetDouble ChartSetInteger
    ChartSetString ChartGetDouble ChartGetInteger ChartGetString ChartNavigate ChartID ChartIndicatorAdd
    ChartIndicatorDelete ChartIndicatorGet ChartIndicatorName ChartIndicatorsTotal ChartWindowOnDropped
    ChartPriceOnDropped ChartTimeOnDropped ChartXOnDropped ChartYOnDropped ChartSetSymbolPeriod
    ChartScreenShot
    iAC iAD iADX iADXWilder iAlligator iAMA iAO iATR iBearsPower iBands iBullsPower iCCI iChaikin iCustom
    iDEMA iDeMarker iEnvelopes iForce iFractals iFrAMA iGator iIchimoku iBWMFI iMomentum iMFI iMA iOsMA
    iMACD iOBV iSAR iRSI iRVI iStdDev iStochastic iTEMA iTriX iWPR iVIDyA iVolumes
    EventSetMillisecondTimer EventSetTimer EventKillTimer EventChartCustom
    WebRequest SendFTP SendMail SendNotification
    SetIndexBuffer IndicatorSetDouble IndicatorSetInteger IndicatorSetString PlotIndexSetDouble
    PlotIndexSetInteger PlotIndexSetString PlotIndexGetInteger
    FrameAdd FrameFilter FrameFirst FrameInputs FrameNext ParameterGetRange ParameterSetRange
    CalendarCountryById CalendarEventById CalendarValueById CalendarCountries CalendarEventByCountry
    CalendarEventByCurrency CalendarValueHistoryByEvent CalendarValueHistory CalendarValueLastByEvent
    CalendarValueLast
""")

CONSTANTS = _words("""
    EMPTY EMPTY_VALUE WHOLE_ARRAY WRONG_VALUE INVALID_HANDLE IS_DEBUG_MODE IS_PROFILE_MODE CLR_NONE
    M_E M_LOG2E M_LOG10E M_LN2 M_LN10 M_PI M_PI_2 M_PI_4 M_1_PI M_2_PI M_2_SQRTPI M_SQRT2 M_SQRT1_2
    CHAR_MIN CHAR_MAX UCHAR_MAX SHORT_MIN SHORT_MAX USHORT_MAX INT_MIN INT_MAX UINT_MAX LONG_MIN LONG_MAX
    ULONG_MAX DBL_MIN DBL_MAX DBL_EPSILON DBL_DIG DBL_MANT_DIG DBL_MAX_10_EXP DBL_MAX_EXP DBL_MIN_10_EXP
    DBL_MIN_EXP FLT_MIN FLT_MAX FLT_EPSILON FLT_DIG IDOK IDCANCEL IDABORT IDRETRY IDIGNORE IDYES IDNO
    IDTRYAGAIN IDCONTINUE CHARTS_MAX BASE_LINE UPPER_LINE LOWER_LINE MAIN_LINE SIGNAL_LINE UPPER_BAND
    LOWER_BAND PLUSDI_LINE MINUSDI_LINE GATORJAW_LINE GATORTEETH_LINE GATORLIPS_LINE GATORJAW_HISTOGRAM
    GATORLIPS_HISTOGRAM TENKANSEN_LINE KIJUNSEN_LINE SENKOUSPANA_LINE SENKOUSPANB_LINE CHIKOUSPAN_LINE
    __DATE__ __DATETIME__ __FILE__ __FUNCSIG__ __FUNCTION__ __LINE__ __MQLBUILD__ __MQL5BUILD__ __MQL__
    __MQL4__ __MQL5__ __PATH__ __COUNTER__ __RANDOM__ _DEBUG _RELEASE
""")

# Families of documented constants (enumeration members) accepted by their prefix.
_CONSTANT_FAMILY = re.compile(
    r"^(?:ACCOUNT|ALIGN|ANCHOR|BOOK_TYPE|BORDER|CALENDAR|CHART|CHARTEVENT|COLOR_FORMAT|CORNER|CP|CRYPT|DEAL|"
    r"DRAW|ELLIOTT|ERR|FILE|FONT|FRAME|FW|GANN|IND|INDICATOR|INIT|LICENSE|MB|MODE|MQL|OBJ|OBJPROP|ORDER|PERIOD|"
    r"PLOT|POINTER|POSITION|PRICE|REASON|SEEK|SERIES|SIGNAL|STAT|STO|STYLE|SYMBOL|TERMINAL|TIME|TRADE|"
    r"VOLUME|ENUM|WRONG|USERWAVE|SOCKET|DATABASE)_[A-Z0-9_]+$")
_COLOR = re.compile(r"^clr[A-Z][A-Za-z]*$")

TRADE_CLASSES = ("CObject", "CTrade", "COrderInfo", "CHistoryOrderInfo", "CPositionInfo", "CDealInfo")
_INDICATOR_CLASSES = (
    "CObject", "CArrayObj", "CArray", "CSeries", "CIndicator", "CIndicatorBuffer", "CIndicators", "CSymbolInfo",
    "CiMA", "CiADX", "CiADXWilder", "CiBands", "CiSAR", "CiStdDev", "CiDEMA", "CiTEMA", "CiFrAMA", "CiAMA",
    "CiVIDyA", "CiEnvelopes", "CiIchimoku", "CiATR", "CiRSI", "CiMACD", "CiStochastic", "CiCCI", "CiMomentum",
    "CiWPR", "CiOsMA", "CiTriX", "CiRVI", "CiDeMarker", "CiForce", "CiBearsPower", "CiBullsPower", "CiChaikin",
    "CiAO", "CiAC", "CiAlligator", "CiGator", "CiFractals", "CiBWMFI", "CiMFI", "CiOBV", "CiAD", "CiVolumes",
    "CiOpen", "CiHigh", "CiLow", "CiClose", "CiTime", "CiSpread", "CiTickVolume", "CiRealVolume")

# Standard Library headers (lower case, forward slashes) and the classes they declare.
STANDARD_HEADERS: dict[str, tuple[str, ...]] = {
    "trade/trade.mqh": TRADE_CLASSES,
    "trade/positioninfo.mqh": ("CObject", "CPositionInfo"),
    "trade/orderinfo.mqh": ("CObject", "COrderInfo"),
    "trade/dealinfo.mqh": ("CObject", "CDealInfo"),
    "trade/historyorderinfo.mqh": ("CObject", "CHistoryOrderInfo"),
    "trade/symbolinfo.mqh": ("CObject", "CSymbolInfo"),
    "trade/accountinfo.mqh": ("CObject", "CAccountInfo"),
    "trade/terminalinfo.mqh": ("CObject", "CTerminalInfo"),
    "object.mqh": ("CObject",),
    "arrays/arrayobj.mqh": ("CObject", "CArray", "CArrayObj"),
    "arrays/arraydouble.mqh": ("CObject", "CArray", "CArrayDouble"),
    "arrays/arrayint.mqh": ("CObject", "CArray", "CArrayInt"),
    "arrays/arraylong.mqh": ("CObject", "CArray", "CArrayLong"),
    "arrays/arraystring.mqh": ("CObject", "CArray", "CArrayString"),
    "arrays/list.mqh": ("CObject", "CList"),
    "indicators/indicators.mqh": _INDICATOR_CLASSES,
    "indicators/trend.mqh": _INDICATOR_CLASSES,
    "indicators/oscilators.mqh": _INDICATOR_CLASSES,
    "indicators/volumes.mqh": _INDICATOR_CLASSES,
    "indicators/billwilliams.mqh": _INDICATOR_CLASSES,
    "indicators/timeseries.mqh": _INDICATOR_CLASSES,
}


def header_key(name: str) -> str:
    """Return the :data:`STANDARD_HEADERS` key of an include's file name."""
    return name.strip().replace("\\", "/").lower()


def is_builtin_value(name: str) -> bool:
    """Say whether MQL5 itself declares this name as a function, variable or constant."""
    return (name in FUNCTIONS or name in PREDEFINED_VARIABLES or name in CONSTANTS
            or bool(_CONSTANT_FAMILY.match(name)) or bool(_COLOR.match(name)))


def is_builtin_type(name: str) -> bool:
    """Say whether MQL5 itself declares this name as a type."""
    return name in TYPE_KEYWORDS or name in BUILTIN_TYPES or name.startswith("ENUM_")
